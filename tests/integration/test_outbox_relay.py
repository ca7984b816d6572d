"""The outbox relay against the real broker and each service's real database (an SQLite file,
or PostgreSQL with CONFORMITY_TEST_DATABASE=postgresql): headers stored as the bytes the relay
sends, rows published in commit order per aggregate and marked, and an event written before
the headers became bytes published after the migration with the headers it was written with.

The events are of a type no consumer knows (each service's consumer skips it), on the
service's own stream, so nothing else in the session reacts to them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import uuid
from typing import Any, ClassVar

import orjson
from aiokafka.partitioner import DefaultPartitioner
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from conformity_devstack.apps import SERVICES
from conformity_devstack.testing import TopicReader, access
from conformity_shared import db, topics
from conformity_shared.envelope import Envelope, causal_context, decode_headers
from conformity_shared.events import Event
from conformity_shared.outbox import OutboxRelay
from conformity_shared.settings import ServiceSettings
from conformity_shared.unit_of_work import UnitOfWork


class Check(Event):
    """A plumbing check: `aggregate` is the key, `n` its place in the aggregate's sequence."""

    topic: ClassVar[str]
    ce_type: ClassVar[str]
    aggregate: str
    n: int

    def subject(self) -> str:
        return self.aggregate


def check_event_of(service: str) -> type[Check]:
    topic = next(t for t, owner in topics.OWNERS.items() if owner == service)
    return type(f"Check_{service}", (Check,), {"topic": topic, "ce_type": f"{service}.outbox_check.v1",
                                               "__annotations__": {}})


def database_url(service: str) -> str:
    return ServiceSettings(service_name=service).resolved_database_url()


def alembic_config(service: str, url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", f"{service}:migrations")
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def relay_of(service: str, engine: Any, kafka: str, batch_size: int = 1000) -> OutboxRelay:
    outbox = importlib.import_module(f"{service}.db").metadata.tables["outbox"]
    return OutboxRelay(engine, outbox, kafka, service=service, batch_size=batch_size,
                       producer_settings=access(service).librdkafka_settings())


async def test_rows_go_out_in_commit_order_per_aggregate_with_the_headers_they_were_written_with(
        service_env, kafka: str) -> None:
    service = "supervision"
    url = database_url(service)
    await db.migrate(f"{service}:migrations", url)
    engine = db.create_engine(url)
    module = importlib.import_module(f"{service}.db")
    outbox, inbox = module.metadata.tables["outbox"], module.metadata.tables["inbox"]
    event_type, run = check_event_of(service), uuid.uuid4().hex[:8]
    keys = [f"order-{run}-{i}" for i in range(6)]
    written: list[Envelope] = []
    for commit in range(4):  # several transactions, several relay batches (of 100)
        uow = UnitOfWork(db.session_factory(engine), outbox, inbox, f"/conformity/{service}", lambda: None)
        async with uow:
            with causal_context(f"corr-{run}", f"cause-{commit}"):
                written += [uow.emit(event_type(aggregate=keys[n % 6], n=n)) for n in range(commit * 90, (commit + 1) * 90)]
            await uow.commit()
    relay = relay_of(service, engine, kafka, batch_size=100)
    try:
        async with TopicReader(kafka, event_type.topic) as reader:
            assert await relay.publish_pending() == len(written)
            ids = {e.id for e in written}
            seen = await reader.until(lambda s: ids <= {e.id for e in s}, timeout=30)
    finally:
        await relay.stop()
        async with engine.connect() as conn:
            unpublished = await conn.scalar(sa.select(sa.func.count()).select_from(outbox)
                                            .where(outbox.c.published_at.is_(None)))
        await engine.dispose()
    ours = [s for s in seen if s.id in ids]
    assert len(ours) == len(written)
    for key in keys:  # each aggregate's events in the order they were committed
        assert [s.json()["n"] for s in ours if s.key == key] == [
            n for n in range(360) if keys[n % 6] == key]
    by_id = {s.id: s for s in ours}
    for envelope in written:
        assert by_id[envelope.id].headers == {k: v.decode() for k, v in envelope.headers()}
    # Each key on the partition Java's and aiokafka's partitioner (murmur2) picks, as before the
    # relay's producer changed: an aggregate's later events follow its earlier ones.
    partitions = list(range(ServiceSettings(service_name=service).kafka_topic_partitions))
    for s in ours:
        assert s.partition == DefaultPartitioner()(s.key.encode(), partitions, partitions)
    assert unpublished == 0


def _old_outbox() -> sa.Table:
    """The outbox as it was before the headers became bytes: JSON text."""
    return sa.Table("outbox", sa.MetaData(),
                    sa.Column("seq", sa.Integer, primary_key=True), sa.Column("event_id", sa.String(36)),
                    sa.Column("topic", sa.String(200)), sa.Column("key", sa.String(200)),
                    sa.Column("event_type", sa.String(200)), sa.Column("headers", sa.JSON),
                    sa.Column("payload", sa.LargeBinary), sa.Column("created_at", db.UTCDateTime()),
                    sa.Column("published_at", db.UTCDateTime()))


async def _write_as_before(url: str, rows: list[tuple[Envelope, Check, dt.datetime | None]]) -> None:
    engine = db.create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.insert(_old_outbox()), [
                {"event_id": env.id, "topic": event.topic, "key": env.subject, "event_type": env.type,
                 "headers": env.header_pairs(), "payload": event.model_dump_json().encode(), "created_at": env.time,
                 "published_at": published} for env, event, published in rows])
    finally:
        await engine.dispose()


@pytest.mark.parametrize("service", SERVICES)
async def test_an_event_written_before_the_headers_became_bytes_is_published_after_the_migration(
        service: str, service_env, kafka: str) -> None:
    url = database_url(service)
    cfg = alembic_config(service, url)
    script = ScriptDirectory.from_config(cfg)
    before = script.get_revision(script.get_current_head()).down_revision
    await asyncio.to_thread(command.upgrade, cfg, before)
    event_type = check_event_of(service)
    events = [event_type(aggregate=f"migrated-{uuid.uuid4().hex[:8]}", n=n) for n in range(2)]
    with causal_context("corr-before-migration", "cause-before-migration"):
        envelopes = [Envelope.for_event(e, f"/conformity/{service}") for e in events]
    published_before = dt.datetime.now(dt.UTC)
    await _write_as_before(url, [(envelopes[0], events[0], published_before), (envelopes[1], events[1], None)])

    await db.migrate(f"{service}:migrations", url)

    engine = db.create_engine(url)
    relay = relay_of(service, engine, kafka)
    try:
        async with TopicReader(kafka, event_type.topic) as reader:
            assert await relay.publish_pending() == 1  # the unpublished one only
            seen = await reader.until(lambda s: any(e.id == envelopes[1].id for e in s), timeout=30)
        async with engine.connect() as conn:
            outbox = importlib.import_module(f"{service}.db").metadata.tables["outbox"]
            rows = {r.event_id: r for r in (await conn.execute(sa.select(outbox))).all()}
    finally:
        await relay.stop()
        await engine.dispose()
    record = next(e for e in seen if e.id == envelopes[1].id)
    assert record.key == events[1].aggregate
    assert record.headers == {k: v.decode() for k, v in envelopes[1].headers()}
    assert record.headers["ce_correlationid"] == "corr-before-migration"
    assert orjson.loads(record.value) == {"aggregate": events[1].aggregate, "n": 1}
    assert rows[envelopes[1].id].published_at is not None
    # The row published before the migration was converted too (a republish would send it as written).
    assert decode_headers(rows[envelopes[0].id].headers) == envelopes[0].headers()
    assert rows[envelopes[0].id].published_at == published_before
