"""Periodic jobs that run once per period across every replica of a service, and the pruning
of the outbox and the inbox.

A job's period is claimed with one conditional statement on the service's `job_runs` table:
the replica whose UPDATE (or first INSERT) matches runs the pass, the others skip it. That
makes a pass run once per period cluster-wide; the jobs themselves still change rows with
conditional updates, so two passes that ever overlap (a pass longer than the period, a clock
gone wrong) cannot apply one change twice.
"""

from __future__ import annotations

import datetime as dt
import os
import socket

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from conformity_shared import db

HOLDER = f"{socket.gethostname()}:{os.getpid()}"


async def claim_period(engine: AsyncEngine, job_runs: sa.Table, name: str, period: dt.timedelta,
                       now: dt.datetime) -> bool:
    """True if this replica runs job `name` now: the last pass began at least `period` ago."""
    async with engine.begin() as conn:
        claimed = await conn.execute(
            sa.update(job_runs)
            .where(job_runs.c.name == name, job_runs.c.started_at <= now - period)
            .values(started_at=now, holder=HOLDER)
        )
        if claimed.rowcount == 1:
            return True
        if await conn.scalar(sa.select(job_runs.c.name).where(job_runs.c.name == name)) is not None:
            return False
        insert = db.upsertable_insert_for(conn.dialect.name, job_runs).values(name=name, started_at=now, holder=HOLDER)
        inserted = await conn.execute(insert.on_conflict_do_nothing(index_elements=["name"]))
        return inserted.rowcount == 1


async def prune(engine: AsyncEngine, outbox: sa.Table, inbox: sa.Table, *, now: dt.datetime,
                outbox_retention: dt.timedelta, inbox_retention: dt.timedelta, batch: int = 10_000) -> dict[str, int]:
    """Delete published outbox rows and inbox rows older than their retention, a batch at a time."""
    return {
        "outbox": await _delete_older(engine, outbox, outbox.c.seq, outbox.c.published_at, now - outbox_retention, batch),
        "inbox": await _delete_older(engine, inbox, inbox.c.event_id, inbox.c.processed_at, now - inbox_retention, batch),
    }


async def _delete_older(engine: AsyncEngine, table: sa.Table, key: sa.Column, stamp: sa.Column,
                        before: dt.datetime, batch: int) -> int:
    deleted = 0
    while True:
        async with engine.begin() as conn:
            oldest = sa.select(key).where(stamp.is_not(None), stamp < before).limit(batch).scalar_subquery()
            done = await conn.execute(sa.delete(table).where(key.in_(oldest)))
        deleted += done.rowcount
        if done.rowcount < batch:
            return deleted
