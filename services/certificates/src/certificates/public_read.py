"""The public verification's read path: the public columns of certificates by number, without an
ORM session per request.

A verification is one primary-key lookup (or one IN query of up to 1,000 keys) that SQLite
answers in microseconds; through a session it cost a pooled connection with its reset, statement
cache keys and several thread hand-offs of aiosqlite, most of the request's CPU. So:

- on SQLite, the process keeps one plain `sqlite3` connection of its own for these reads,
  query-only, and runs the lookup on the event loop itself (a key lookup takes less time than a
  hand-off to a thread would). WAL lets it read while the service's writers write, and every
  statement sees what was committed before it began, as the session did;
- on PostgreSQL, a small asyncpg pool of the process's own, queried with the same SELECTs,
  prepared once per connection by asyncpg's statement cache: no SQLAlchemy pool checkout with
  its pre-ping round trip, no reset on release (these connections only ever run these reads).
  Its rows are the same Python values SQLAlchemy got from the same driver;
- a memory database (tests): a SQLAlchemy Core query, no session.

The answers are built here: from SQLAlchemy's rows by `summary` (the one the other views use),
and from SQLite's stored text directly, without building dates and timestamps only to format
them again. They are the same bytes as the session's path gave (tests/test_public_read.py
compares every kind of answer, suspended certificates and awkward text included).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from collections import namedtuple
from collections.abc import Sequence
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from certificates import domain
from certificates.db import PUBLIC_COLUMNS, certificates

_NAMES = ", ".join(f'"{c.name}"' for c in PUBLIC_COLUMNS)
_ONE = f"SELECT {_NAMES} FROM certificates WHERE number = ?"
_ONE_PG = f"SELECT {_NAMES} FROM certificates WHERE number = $1"
# SQLite's memory map and page cache for the reader's connection: the B-tree's upper levels
# stay in memory, and pages are read without a copy (raw IN lookups on 3 million rows ran about
# 1.5x faster with the map in a side measurement).
READER_PRAGMAS = ("PRAGMA query_only=ON", "PRAGMA mmap_size=1073741824", "PRAGMA cache_size=-65536",
                  "PRAGMA busy_timeout=5000")


SUSPENDED = domain.Status.SUSPENDED.value
# A row of PUBLIC_COLUMNS read by asyncpg, with the attribute access `summary` uses.
_PublicRow = namedtuple("_PublicRow", [c.name for c in PUBLIC_COLUMNS])  # type: ignore[misc]


def summary(row: Any) -> dict[str, Any]:
    """A certificate's public answer, from a row of `db.PUBLIC_COLUMNS` (or all columns) as
    SQLAlchemy gives it."""
    return {
        "number": row.number,
        "status": row.status,
        "holder": {"uscc": row.holder_uscc, "name": row.holder_name},
        "issuing_body_uscc": row.issuing_body_uscc,
        "scope": {"scheme": row.scheme, "field": row.field, "product": row.product, "standard": row.standard},
        "validity": {"from": row.valid_from.isoformat(), "until": row.valid_until.isoformat()},
        "suspension": (
            {"reason": row.suspension_reason, "until": row.suspended_until.isoformat() if row.suspended_until else None}
            if row.status == SUSPENDED else None
        ),
        "last_change": {"at": row.last_change_at.isoformat(), "reason": row.last_change_reason},
        "last_change_at": row.last_change_at.isoformat(),
    }


def _date(text: str | None) -> str | None:
    """A date as SQLite keeps it ("YYYY-MM-DD"), as `date.isoformat()` would give it back."""
    if text is None or len(text) == 10:
        return text
    return dt.date.fromisoformat(text).isoformat()


def _stamp(text: str) -> str:
    """A UTC timestamp as SQLAlchemy stores it in SQLite ("YYYY-MM-DD HH:MM:SS.ffffff"), as the
    isoformat of the aware datetime it reads back ("YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00")."""
    if len(text) != 26 or text[10] != " " or text[19] != ".":
        return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).isoformat()
    if text.endswith(".000000"):
        return f"{text[:10]}T{text[11:19]}+00:00"
    return f"{text[:10]}T{text[11:]}+00:00"


def _stored_summary(row: tuple[Any, ...]) -> dict[str, Any]:
    """`summary` of a row as SQLite stores it, without building dates to format them again."""
    (number, status, holder_uscc, holder_name, body, scheme, field, product, standard, valid_from, valid_until,
     reason, suspended_until, last_change_at, last_change_reason) = row
    at = _stamp(last_change_at)
    return {
        "number": number,
        "status": status,
        "holder": {"uscc": holder_uscc, "name": holder_name},
        "issuing_body_uscc": body,
        "scope": {"scheme": scheme, "field": field, "product": product, "standard": standard},
        "validity": {"from": _date(valid_from), "until": _date(valid_until)},
        "suspension": {"reason": reason, "until": _date(suspended_until)} if status == SUSPENDED else None,
        "last_change": {"at": at, "reason": last_change_reason},
        "last_change_at": at,
    }


async def _nothing_to_reset(_connection: asyncpg.Connection) -> None:
    """The reader's connections run SELECTs only: no session state to reset between uses."""


class _PostgresReads:
    """The public SELECTs on an asyncpg pool of the process's own, opened on first use."""

    def __init__(self, url: sa.URL, size: int) -> None:
        self.dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.size = size
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        if self._pool is None:
            async with self._opening:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=self.size,
                                                           reset=_nothing_to_reset)
        return await self._pool.fetch(query, *args)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


def _record_summary(record: Any) -> dict[str, Any]:
    row = _PublicRow(*record)
    return summary(row._replace(last_change_at=row.last_change_at.astimezone(dt.UTC)))


class PublicReader:
    """Public columns by number, for one process (each uvicorn worker builds its own)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        path = engine.url.database if engine.dialect.name == "sqlite" else None
        self.sqlite_path = path if path and path != ":memory:" else None  # a memory database: Core
        self._conn: sqlite3.Connection | None = None
        self._postgres = (_PostgresReads(engine.url, engine.pool.size())  # type: ignore[attr-defined]
                          if engine.dialect.name == "postgresql" else None)

    def _sqlite(self) -> sqlite3.Connection:
        if self._conn is None:
            assert self.sqlite_path
            conn = sqlite3.connect(self.sqlite_path, isolation_level=None, check_same_thread=False)
            for pragma in READER_PRAGMAS:
                conn.execute(pragma)
            self._conn = conn
        return self._conn

    async def one(self, number: str) -> dict[str, Any] | None:
        """The public answer for one number, or None."""
        if self.sqlite_path:
            row = self._sqlite().execute(_ONE, (number,)).fetchone()
            return None if row is None else _stored_summary(row)
        if self._postgres:
            found = await self._postgres.fetch(_ONE_PG, number)
            return _record_summary(found[0]) if found else None
        async with self.engine.connect() as conn:
            found = (await conn.execute(sa.select(*PUBLIC_COLUMNS).where(certificates.c.number == number))).first()
        return None if found is None else summary(found)

    async def many(self, numbers: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The public answers of the numbers found, by number."""
        if self.sqlite_path:
            query = f"SELECT {_NAMES} FROM certificates WHERE number IN ({','.join('?' * len(numbers))})"
            return {row[0]: _stored_summary(row) for row in self._sqlite().execute(query, list(numbers)).fetchall()}
        if self._postgres:
            if not numbers:
                return {}
            placeholders = ", ".join(f"${i}" for i in range(1, len(numbers) + 1))
            rows = await self._postgres.fetch(f"SELECT {_NAMES} FROM certificates WHERE number IN ({placeholders})",
                                              *numbers)
            return {row[0]: _record_summary(row) for row in rows}
        async with self.engine.connect() as conn:
            rows = (await conn.execute(sa.select(*PUBLIC_COLUMNS).where(certificates.c.number.in_(numbers)))).all()
        return {row.number: summary(row) for row in rows}

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def aclose(self) -> None:
        self.close()
        if self._postgres:
            await self._postgres.close()
