"""The services' SQLite engines run each statement in one hand-off to aiosqlite's thread, and
SQLAlchemy reads the same results, counts and errors through it as through aiosqlite's cursor."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from conformity_shared import db, sqlite_driver


@pytest.fixture
async def engine(tmp_path: Path):  # noqa: ANN201
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    async with engine.begin() as conn:
        await conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE)")
    yield engine
    await engine.dispose()


def _count_hand_offs(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    calls: list[Any] = []
    original = sqlite_driver.OneHopConnection._execute

    async def counted(self: sqlite_driver.OneHopConnection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(fn)
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(sqlite_driver.OneHopConnection, "_execute", counted)
    return calls


async def test_a_statement_is_one_hand_off_and_reads_back_what_it_did(engine, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    async with engine.connect() as conn:
        await conn.execute(sa.text("SELECT 1"))  # the connection is made: its own hand-offs are not counted
        calls = _count_hand_offs(monkeypatch)
        inserted = await conn.execute(sa.text("INSERT INTO t (v) VALUES (:v)"), [{"v": "a"}, {"v": "b"}, {"v": "c"}])
        assert inserted.rowcount == 3 and len(calls) == 1
        updated = await conn.execute(sa.text("UPDATE t SET v = v || '!' WHERE v IN ('a', 'b') RETURNING id, v"))
        assert sorted(updated.all()) == [(1, "a!"), (2, "b!")] and updated.rowcount == 2 and len(calls) == 2
        one = await conn.execute(sa.text("INSERT INTO t (v) VALUES ('d')"))
        assert one.lastrowid == 4 and len(calls) == 3
        rows = await conn.execute(sa.text("SELECT id, v FROM t ORDER BY id"))
        assert rows.fetchmany(2) == [(1, "a!"), (2, "b!")] and rows.fetchone() == (3, "c") and rows.all() == [(4, "d")]
        assert len(calls) == 4
        streamed = await conn.stream(sa.text("SELECT v FROM t ORDER BY id"))
        assert [row.v async for row in streamed] == ["a!", "b!", "c", "d"]
        await conn.commit()


async def test_errors_and_rollback_are_sqlalchemys_as_before(engine) -> None:  # noqa: ANN001
    async with engine.connect() as conn:
        await conn.execute(sa.text("INSERT INTO t (v) VALUES ('x')"))
        with pytest.raises(sa_exc.IntegrityError):
            await conn.execute(sa.text("INSERT INTO t (v) VALUES ('x')"))
        await conn.rollback()
        assert (await conn.execute(sa.text("SELECT count(*) FROM t"))).scalar() == 0
        with pytest.raises(sa_exc.OperationalError):
            await conn.execute(sa.text("SELECT * FROM no_such_table"))


async def test_pragmas_hold_on_each_connection_and_a_memory_database_keeps_its_one_connection(tmp_path: Path) -> None:
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    async with engine.connect() as conn:
        assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
        assert (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar() == 30000
    await engine.dispose()
    memory = db.create_engine("sqlite+aiosqlite://")
    async with memory.begin() as conn:
        await conn.exec_driver_sql("CREATE TABLE m (x INTEGER)")
    async with memory.connect() as conn:  # the same connection: the table is still there
        assert (await conn.exec_driver_sql("SELECT count(*) FROM m")).scalar() == 0
    await memory.dispose()


async def test_insert_many_stores_what_sqlalchemys_insert_stores_shared_instants_included(tmp_path: Path) -> None:
    """The bulk fast path converts values itself; rows sharing one datetime object (a bulk
    change's history) and rows each with their own are stored as SQLAlchemy stores them."""
    metadata = sa.MetaData()
    table = sa.Table("h", metadata, sa.Column("n", sa.Integer, primary_key=True), sa.Column("at", db.UTCDateTime()),
                     sa.Column("doc", sa.JSON), sa.Column("flag", sa.Boolean))
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'many.db'}")
    shared = dt.datetime(2026, 5, 6, 7, 8, 9, 10, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    own = [shared + dt.timedelta(microseconds=i) for i in range(3)]
    rows = [{"n": i, "at": shared, "doc": {"i": i}, "flag": i % 2 == 0} for i in range(3)]
    rows += [{"n": 10 + i, "at": at, "doc": None, "flag": None} for i, at in enumerate(own)]
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        await db.insert_many(conn, table, rows)  # the fast path
        await conn.execute(sa.insert(table), [{**row, "n": row["n"] + 100} for row in rows])  # SQLAlchemy's
        # Timestamps and booleans as stored text; JSON as SQLAlchemy reads it back (the fast path
        # writes it compactly, and a missing document as SQL NULL: both read back the same).
        stored = dict((await conn.exec_driver_sql("SELECT n, at || '|' || coalesce(flag, '') FROM h")).all())
        read = dict((await conn.execute(sa.select(table.c.n, table.c.doc))).all())
        with pytest.raises(ValueError, match="naive"):
            await db.insert_many(conn, table, [{"n": 50, "at": dt.datetime(2026, 1, 1), "doc": None, "flag": None}])
    await engine.dispose()
    assert [stored[row["n"]] for row in rows] == [stored[row["n"] + 100] for row in rows]
    assert [read[row["n"]] for row in rows] == [read[row["n"] + 100] for row in rows] == [row["doc"] for row in rows]
    assert stored[0] == "2026-05-05 23:08:09.000010|1" and stored[12] == "2026-05-05 23:08:09.000012|"
