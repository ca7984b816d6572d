"""The shared event plumbing against the real broker: outbox relay, dead letters, unknown types."""

from __future__ import annotations

import json
import uuid

import sqlalchemy as sa

from conformity_shared import events, topics
from conformity_shared.auth import Role
from conformity_shared.envelope import causal_context
from conformity_devstack.factories import approval_granted, certificate_request, new_uscc, spot_check_failed
from conformity_devstack.testing import TopicReader, envelope_as_owner, eventually, producer_for, running, token

from certificates.app import create_app as certificates_app
from supervision.app import create_app as supervision_app


async def produce(kafka: str, topic: str, value: bytes, key: str, headers: list[tuple[str, bytes]]) -> None:
    async with producer_for(kafka, topic) as producer:
        await producer.send_and_wait(topic, value, key=key.encode(), headers=headers)


def spot_check(inspection: str) -> events.SpotCheckFailedV1:
    """A spot check naming no certificate anyone holds: nothing reacts to it but the plumbing."""
    return spot_check_failed(new_uscc(), ["NONE"], inspection_id=inspection, findings="x")


async def test_committed_events_are_published_promptly_and_marked(service_env, kafka: str) -> None:
    app = supervision_app()  # the spot check's publisher: only it may write supervision's stream
    async with running(app), TopicReader(kafka, topics.SUPERVISION) as reader:
        runtime = app.state.runtime
        inspection = f"relay-{uuid.uuid4()}"
        with causal_context("corr-relay", None):
            async with runtime.unit_of_work() as uow:
                envelope = uow.emit(spot_check(inspection))
                await uow.commit()
        seen = await reader.until(lambda s: any(e.id == envelope.id for e in s), timeout=10)
        record = next(e for e in seen if e.id == envelope.id)
        assert record.key == inspection
        assert record.headers["ce_type"] == "supervision.spot_check_failed.v1"
        assert record.headers["ce_source"] == "/conformity/supervision"
        assert record.headers["ce_correlationid"] == "corr-relay"
        assert record.json()["inspection_id"] == inspection

        async def marked() -> bool:
            async with runtime.sessions() as session:
                published = await session.scalar(
                    sa.select(runtime.outbox.c.published_at).where(runtime.outbox.c.event_id == envelope.id)
                )
            return published is not None

        await eventually(marked, timeout=10)


async def test_a_rolled_back_unit_of_work_publishes_nothing(service_env, kafka: str) -> None:
    app = supervision_app()  # the spot check's publisher: only it may write supervision's stream
    async with running(app), TopicReader(kafka, topics.SUPERVISION) as reader:
        runtime = app.state.runtime
        inspection = f"rollback-{uuid.uuid4()}"
        async with runtime.unit_of_work() as uow:
            uow.emit(spot_check(inspection))
            # no commit: the state change failed, so its events must not exist either
        async with runtime.unit_of_work() as uow:
            later = uow.emit(spot_check(f"later-{uuid.uuid4()}"))
            await uow.commit()
        await reader.until(lambda s: any(e.id == later.id for e in s), timeout=10)
        assert not any(e.key == inspection for e in reader.seen)
        async with runtime.sessions() as session:
            rows = await session.scalar(sa.select(sa.func.count()).select_from(runtime.outbox).where(runtime.outbox.c.key == inspection))
        assert rows == 0


async def test_poison_messages_go_to_the_dead_letter_topic_and_consumption_goes_on(service_env, kafka: str) -> None:
    """Malformed JSON and a wrong schema are dead-lettered with the error; an unknown type is skipped."""
    body = new_uscc()
    app = certificates_app()
    async with running(app) as certs, TopicReader(kafka, topics.dead_letters("certificates")) as dlq:
        key = f"poison-{uuid.uuid4()}"
        malformed = envelope_as_owner(spot_check(key))
        await produce(kafka, topics.SUPERVISION, b"{not json", key, malformed.headers())
        wrong_schema = envelope_as_owner(spot_check(key))
        await produce(kafka, topics.SUPERVISION, json.dumps({"inspection_id": key}).encode(), key, wrong_schema.headers())
        unknown = [(k, v if k != "ce_type" else b"supervision.something_new.v9") for k, v in envelope_as_owner(spot_check(key)).headers()]
        await produce(kafka, topics.SUPERVISION, b"whatever", key, unknown)

        # A good event after the poison is still handled: an approval reaches the read model.
        granted = approval_granted(body)
        await produce(kafka, topics.APPROVAL, granted.model_dump_json().encode(), granted.subject(),
                      envelope_as_owner(granted).headers())

        async def issued() -> bool:
            answer = await certs.post(
                "/certificates", headers=token(Role.AGENCY, org=body), json=certificate_request(new_uscc())
            )
            return answer.status_code == 201

        await eventually(issued, timeout=20)
        letters = await dlq.until(lambda s: sum(1 for e in s if e.key == key) >= 2, timeout=20)
        mine = [e for e in letters if e.key == key]
        by_id = {e.id: e for e in mine}
        assert set(by_id) == {malformed.id, wrong_schema.id}
        assert by_id[malformed.id].value == b"{not json"
        assert "JSON" in by_id[malformed.id].headers["dlq_error"] or "json" in by_id[malformed.id].headers["dlq_error"]
        assert "holder_uscc" in by_id[wrong_schema.id].headers["dlq_error"]
        assert by_id[wrong_schema.id].headers["dlq_original_topic"] == topics.SUPERVISION
        assert by_id[wrong_schema.id].headers["ce_type"] == "supervision.spot_check_failed.v1"
        await dlq.settle(1.0)
        assert len([e for e in dlq.seen if e.key == key]) == 2  # the unknown type was skipped, not dead-lettered


async def test_health_reports_database_and_broker_and_the_asyncapi_document_is_served(service_env, kafka: str) -> None:
    async with running(certificates_app()) as certs:
        health = (await certs.get("/health")).json()
        assert health["database"] == "ok" and health["broker"] == "ok" and health["status"] == "ok"
        spec = (await certs.get("/asyncapi.json")).json()
        assert spec["asyncapi"].startswith("3.")
        assert any("certificate.suspended.v1" in name for name in json.dumps(spec["channels"]).split('"'))
        assert (await certs.get("/openapi.json")).status_code == 200
