"""SQLite for the services' async engines: aiosqlite, with each statement one hand-off to its thread.

aiosqlite runs every sqlite3 call on a thread of the connection's own and hands it over through
a queue, then wakes the event loop with the result. SQLAlchemy's adapter makes four such calls
per statement: create a cursor, execute, fetch the rows, close the cursor; each hand-off costs
the thread's wake-up, the GIL, and a wake-up of the loop (0.35-0.6 ms a statement measured with
the relay's SELECT, most of it hand-offs; BENCHMARKS.md, "Third round"). A cascade makes about
25 statements across two services.

`OneHopConnection` is aiosqlite's connection whose cursors do all of it in one call on that
thread: make the sqlite3 cursor, execute, read every row, note the description, row count and
last row id, close. What SQLAlchemy then reads from the cursor is already in memory. sqlite3 is
used exactly as before, on the same thread, in the same order; only the hand-offs are fewer.
Reading every row at once is what SQLAlchemy's adapter did anyway (it buffers the rows of every
statement that is not server-side, and the services use none that are).
"""

from __future__ import annotations

import collections
import functools
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

import aiosqlite


class OneHopConnection(aiosqlite.Connection):
    """An aiosqlite connection whose cursors run each statement in one hand-off."""

    def cursor(self) -> OneHopCursor:  # type: ignore[override]
        return OneHopCursor(self)


class OneHopCursor:
    """What SQLAlchemy's asyncio adapter uses of an aiosqlite cursor, with the statement made,
    run, read and closed in one call on the connection's thread."""

    arraysize = 1

    def __init__(self, connection: OneHopConnection) -> None:
        self._connection = connection
        self._rows: collections.deque[Any] = collections.deque()
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None

    async def __aenter__(self) -> OneHopCursor:
        return self  # nothing to make yet: the sqlite3 cursor lives only for one statement

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def execute(self, sql: str, parameters: Any = None) -> OneHopCursor:
        run = functools.partial(_run, "execute", sql, () if parameters is None else parameters)
        return await self._hand_off(run)

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> OneHopCursor:
        return await self._hand_off(functools.partial(_run, "executemany", sql, parameters))

    async def _hand_off(self, run: Callable[[sqlite3.Connection], tuple[list[Any], Any, int, int | None]]) -> OneHopCursor:
        connection = self._connection
        rows, self.description, self.rowcount, self.lastrowid = await connection._execute(
            lambda: run(connection._conn))
        self._rows = collections.deque(rows)
        return self

    async def fetchall(self) -> list[Any]:
        rows, self._rows = list(self._rows), collections.deque()
        return rows

    async def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        count = self.arraysize if size is None else size
        return [self._rows.popleft() for _ in range(min(count, len(self._rows)))]

    async def close(self) -> None:
        self._rows.clear()


def _run(method: str, sql: str, parameters: Any, conn: sqlite3.Connection) -> tuple[list[Any], Any, int, int | None]:
    """On the connection's thread: the statement, start to finish."""
    cursor = conn.cursor()
    try:
        getattr(cursor, method)(sql, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return rows, cursor.description, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


def creator(database: str, **connect_args: Any) -> Callable[[], Any]:
    """For `create_async_engine(async_creator=...)`: a connected `OneHopConnection` to `database`,
    with sqlite3's `connect_args`, its thread a daemon as SQLAlchemy makes aiosqlite's."""

    async def connect() -> OneHopConnection:
        connection = OneHopConnection(functools.partial(sqlite3.connect, database, **connect_args), iter_chunk_size=64)
        connection._thread.daemon = True
        return await connection

    return connect
