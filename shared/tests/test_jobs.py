"""Periodic jobs run once per period across replicas; the outbox and inbox are pruned by age."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

from conformity_shared import db, jobs

metadata = sa.MetaData()
outbox, inbox = db.messaging_tables(metadata)
job_runs = metadata.tables["job_runs"]
T0 = dt.datetime(2026, 11, 26, 8, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


@pytest.fixture
async def engine(tmp_path: Path):  # noqa: ANN201
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


async def test_one_replica_claims_each_period(engine, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(jobs, "HOLDER", "replica-a")
    assert await jobs.claim_period(engine, job_runs, "due-transitions", HOUR, T0)
    monkeypatch.setattr(jobs, "HOLDER", "replica-b")
    assert not await jobs.claim_period(engine, job_runs, "due-transitions", HOUR, T0 + dt.timedelta(minutes=59))
    assert await jobs.claim_period(engine, job_runs, "due-transitions", HOUR, T0 + HOUR)
    holder = await _scalar(engine, sa.select(job_runs.c.holder))
    assert holder == "replica-b"


async def test_replicas_racing_for_a_period_let_exactly_one_run_it(engine) -> None:  # noqa: ANN001
    claims = await asyncio.gather(*(jobs.claim_period(engine, job_runs, "restore", HOUR, T0) for _ in range(8)))
    assert claims.count(True) == 1
    later = await asyncio.gather(*(jobs.claim_period(engine, job_runs, "restore", HOUR, T0 + HOUR) for _ in range(8)))
    assert later.count(True) == 1


async def test_pruning_keeps_unpublished_and_recent_rows(engine) -> None:  # noqa: ANN001
    now = T0 + dt.timedelta(days=30)
    async with engine.begin() as conn:
        await conn.execute(sa.insert(outbox), [
            _outbox_row("old-published", created=T0, published=T0),
            _outbox_row("old-unpublished", created=T0, published=None),
            _outbox_row("recent", created=now, published=now),
        ])
        await conn.execute(sa.insert(inbox), [_inbox_row("old", T0), _inbox_row("recent", now)])
    pruned = await jobs.prune(engine, outbox, inbox, now=now, outbox_retention=dt.timedelta(days=7),
                              inbox_retention=dt.timedelta(days=14), batch=1)
    assert pruned == {"outbox": 1, "inbox": 1}
    assert sorted(await _column(engine, outbox.c.event_id)) == ["old-unpublished", "recent"]
    assert await _column(engine, inbox.c.event_id) == ["recent"]


def _outbox_row(event_id: str, created: dt.datetime, published: dt.datetime | None) -> dict:
    return {"event_id": event_id, "topic": "t", "key": "k", "event_type": "e", "headers": b"", "payload": b"{}",
            "created_at": created, "published_at": published}


def _inbox_row(event_id: str, processed: dt.datetime) -> dict:
    return {"event_id": event_id, "event_type": "e", "topic": "t", "partition": 0, "offset": 0, "processed_at": processed}


async def _scalar(engine, statement):  # noqa: ANN001, ANN202
    async with engine.connect() as conn:
        return await conn.scalar(statement)


async def _column(engine, column) -> list:  # noqa: ANN001
    async with engine.connect() as conn:
        return list((await conn.execute(sa.select(column))).scalars())
