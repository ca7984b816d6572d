"""The broker lets in only the platform's principals, each only where the contract says.

On the real broker of the session (SASL/SCRAM, the access rules provisioned as a deployment's):
an unauthenticated client is refused; a service cannot write another service's stream (a forged
approval.revoked.v1 with the certificates service's credentials is refused by the broker); a
principal outside a stream's readers cannot read it; and a consumer dead-letters an event whose
`ce_source` is not the owner of its topic; the replay topic gives back only true dead letters.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAuthorizationFailedError

from conformity_devstack.factories import approval_change, approval_granted, new_uscc
from conformity_devstack.testing import TopicReader, client_settings, eventually, running
from conformity_devstack.kafka_config import ADMIN
from conformity_operators.kafka_provisioning import DLQ_REPLAY
from conformity_shared import events, topics
from conformity_shared.envelope import Envelope

from certificates.app import create_app as certificates_app
from certificates.db import bodies

pytestmark = pytest.mark.integration


async def test_a_client_without_credentials_is_refused(kafka: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka, request_timeout_ms=5000)
    with pytest.raises((KafkaConnectionError, KafkaError)):
        await asyncio.wait_for(producer.start(), 15)
    await producer.stop()


async def test_a_forged_revocation_with_the_certificates_credentials_is_refused_by_the_broker(kafka: str) -> None:
    revoked = approval_change(events.ApprovalRevokedV1, new_uscc(), str(uuid.uuid4()), reason="forged")
    envelope = Envelope.for_event(revoked, topics.source_of("approval"))  # pretending to be approval
    producer = AIOKafkaProducer(bootstrap_servers=kafka, **client_settings("certificates"))
    await producer.start()
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            await producer.send_and_wait(topics.APPROVAL, revoked.model_dump_json().encode(),
                                         key=envelope.subject.encode(), headers=envelope.headers())
    finally:
        await producer.stop()


async def test_a_principal_outside_the_access_rules_cannot_read_supervisions_stream(kafka: str) -> None:
    # proficiency consumes nothing: inspection assignments and results on supervision.events are not its to read
    consumer = AIOKafkaConsumer(topics.SUPERVISION, bootstrap_servers=kafka, group_id=None,
                                auto_offset_reset="earliest", **client_settings("proficiency"))
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            await consumer.start()
            await consumer.getmany(timeout_ms=5000)
    finally:
        await consumer.stop()
    reader = AIOKafkaConsumer(topics.SUPERVISION, bootstrap_servers=kafka, group_id=None,
                              auto_offset_reset="earliest", **client_settings("certificates"))
    await reader.start()  # certificates consumes supervision.events: the same request is allowed
    await reader.stop()


async def test_an_event_whose_source_is_not_its_topics_publisher_is_dead_lettered(service_env, kafka: str) -> None:
    """Written with approval's own credentials, but claiming to come from supervision: certificates
    takes nothing from it and puts it in its dead letters with the reason."""
    body = new_uscc()
    granted = approval_granted(body)
    envelope = Envelope.for_event(granted, topics.source_of("supervision"))
    async with running(certificates_app()), TopicReader(kafka, topics.dead_letters("certificates")) as dlq:
        producer = AIOKafkaProducer(bootstrap_servers=kafka, **client_settings("approval"))
        await producer.start()
        try:
            await producer.send_and_wait(topics.APPROVAL, granted.model_dump_json().encode(),
                                         key=envelope.subject.encode(), headers=envelope.headers())
        finally:
            await producer.stop()
        seen = await dlq.until(lambda s: any(x.id == envelope.id for x in s))
    [dead] = [x for x in seen if x.id == envelope.id]
    assert "is not '/conformity/approval'" in dead.headers["dlq_error"]


async def committed_past(kafka: str, group: str, topic: str, partition: int, offset: int) -> bool:
    """True once `group` has committed an offset past `offset` on the partition (it has handled it)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka, **client_settings(ADMIN))
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    position = committed.get(TopicPartition(topic, partition))
    return position is not None and position.offset > offset


async def test_the_replay_topic_gives_back_only_the_services_own_dead_letters(service_env, kafka: str) -> None:
    """The replay principal can write to certificates.replay, but a record there that certificates
    never dead-lettered (here: a forged grant) is refused, not handled."""
    body = new_uscc()
    forged = approval_granted(body)
    envelope = Envelope.for_event(forged, topics.source_of("approval"))
    headers = [*envelope.headers(), ("dlq_original_topic", topics.APPROVAL.encode()),
               ("dlq_original_partition", b"0"), ("dlq_original_offset", b"7")]
    app = certificates_app()
    async with running(app):
        producer = AIOKafkaProducer(bootstrap_servers=kafka, enable_idempotence=True, **client_settings(DLQ_REPLAY))
        await producer.start()
        try:
            sent = await producer.send_and_wait(topics.replays("certificates"), forged.model_dump_json().encode(),
                                                key=envelope.subject.encode(), headers=headers)
        finally:
            await producer.stop()
        await eventually(lambda: committed_past(kafka, "certificates", sent.topic, sent.partition, sent.offset),
                         timeout=60)
        async with app.state.runtime.sessions() as session:
            known = await session.scalar(sa.select(bodies.c.uscc).where(bodies.c.uscc == body))
    assert known is None, "a forged replay reached the read model"
