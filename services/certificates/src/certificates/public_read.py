"""The public verification's read path: the public columns of certificates by number, without an
ORM session per request.

A verification is one primary-key lookup (or one IN query of up to 1,000 keys) that SQLite
answers in microseconds; through a session it cost a pooled connection with its reset, statement
cache keys and several thread hand-offs of aiosqlite, most of the request's CPU. So:

- on SQLite, the process keeps one plain `sqlite3` connection of its own for these reads,
  query-only, and runs the lookup on the event loop itself (a key lookup takes less time than a
  hand-off to a thread would). WAL lets it read while the service's writers write, and every
  statement sees what was committed before it began, as the session did;
- elsewhere (PostgreSQL), a SQLAlchemy Core query on a pooled connection, no session.

Rows come back with the columns and Python types of `db.PUBLIC_COLUMNS` as SQLAlchemy gives
them, so the answers are built by the same code and are the same bytes
(tests/test_public_read.py compares them with the session's).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections import namedtuple
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from certificates.db import PUBLIC_COLUMNS, certificates

PublicRow = namedtuple("PublicRow", [c.name for c in PUBLIC_COLUMNS])  # type: ignore[misc]
_NAMES = ", ".join(f'"{c.name}"' for c in PUBLIC_COLUMNS)
_ONE = f"SELECT {_NAMES} FROM certificates WHERE number = ?"
# SQLite's memory map and page cache for the reader's connection: the B-tree's upper levels
# stay in memory, and pages are read without a copy (raw IN lookups on 3 million rows ran about
# 1.5x faster with the map in a side measurement).
READER_PRAGMAS = ("PRAGMA query_only=ON", "PRAGMA mmap_size=1073741824", "PRAGMA cache_size=-65536",
                  "PRAGMA busy_timeout=5000")


def _date(value: str | None) -> dt.date | None:
    return None if value is None else dt.date.fromisoformat(value)


def _timestamp(value: str) -> dt.datetime:
    # Stored by SQLAlchemy (and db.insert_many) as "YYYY-MM-DD HH:MM:SS.ffffff" in UTC.
    return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)


def _from_sqlite(row: tuple[Any, ...]) -> PublicRow:
    (number, status, holder_uscc, holder_name, body, scheme, field, product, standard, valid_from, valid_until,
     reason, suspended_until, last_change_at, last_change_reason) = row
    return PublicRow(number, status, holder_uscc, holder_name, body, scheme, field, product, standard,
                     _date(valid_from), _date(valid_until), reason, _date(suspended_until),
                     _timestamp(last_change_at), last_change_reason)


class PublicReader:
    """Public columns by number, for one process (each uvicorn worker builds its own)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        path = engine.url.database if engine.dialect.name == "sqlite" else None
        self.sqlite_path = path if path and path != ":memory:" else None  # a memory database: Core
        self._conn: sqlite3.Connection | None = None

    def _sqlite(self) -> sqlite3.Connection:
        if self._conn is None:
            assert self.sqlite_path
            conn = sqlite3.connect(self.sqlite_path, isolation_level=None, check_same_thread=False)
            for pragma in READER_PRAGMAS:
                conn.execute(pragma)
            self._conn = conn
        return self._conn

    async def one(self, number: str) -> Any:
        if self.sqlite_path:
            row = self._sqlite().execute(_ONE, (number,)).fetchone()
            return None if row is None else _from_sqlite(row)
        async with self.engine.connect() as conn:
            return (await conn.execute(sa.select(*PUBLIC_COLUMNS).where(certificates.c.number == number))).first()

    async def many(self, numbers: Sequence[str]) -> Sequence[Any]:
        if self.sqlite_path:
            query = f"SELECT {_NAMES} FROM certificates WHERE number IN ({','.join('?' * len(numbers))})"
            return [_from_sqlite(row) for row in self._sqlite().execute(query, list(numbers)).fetchall()]
        async with self.engine.connect() as conn:
            query = sa.select(*PUBLIC_COLUMNS).where(certificates.c.number.in_(numbers))
            return (await conn.execute(query)).all()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
