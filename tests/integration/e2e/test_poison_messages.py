"""Poison messages written straight onto the streams, next to the platform's own events.

For each consuming service a record of a type only it handles is written with a body that is
not JSON, and one with JSON of the wrong schema, on every partition of the topic (so that
each later event of that topic is read after one of them); then a record of a type nobody
knows. The first two must land on `<service>.dlq` with the error and the original bytes and
headers; the third is skipped (no dead letter, no inbox row); consumption goes on: flows
started afterwards complete. Then a dead letter whose cause was in the consumer (a setting
that makes every suspension fail) is replayed with the operators' CLI once the setting is
fixed, and takes effect exactly once.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import sqlalchemy as sa

from conformity_shared import events, topics
from conformity_devstack.factories import spot_check_result
from conformity_devstack import testing
from conformity_devstack.testing import OwnerProducers, TopicReader, eventually

from approval import db as approval_db
from certificates import db as certificates_db
from supervision import db as supervision_db

PARTITIONS = 3  # the platform's topics (CONFORMITY_KAFKA_TOPIC_PARTITIONS default)

# For each consuming service: a topic it reads and a type that only it handles there.
ONLY_HANDLED_BY = {
    "approval": (topics.SUPERVISION, events.InspectionFailedV1.ce_type),
    "certificates": (topics.SUPERVISION, events.SpotCheckFailedV1.ce_type),
    "supervision": (topics.CERTIFICATES, events.CertificateIssuedV1.ce_type),
}
INBOXES = {"approval": approval_db.inbox, "certificates": certificates_db.inbox, "supervision": supervision_db.inbox}


def headers_for(topic: str, ce_type: str, key: str) -> tuple[str, list[tuple[str, bytes]]]:
    """CloudEvents headers as the topic's publisher would write them (its own `ce_source`: the
    poison is its bug, not a stranger's record); returns (ce_id, headers)."""
    event_id = str(uuid.uuid4())
    source = topics.source_of(topics.owner_of(topic))
    pairs = [
        ("ce_specversion", "1.0"), ("ce_id", event_id), ("ce_source", source), ("ce_type", ce_type),
        ("ce_time", "2026-03-01T08:00:00Z"), ("ce_subject", key), ("ce_correlationid", f"poison-{event_id}"),
        ("content-type", "application/json"),
    ]
    return event_id, [(k, v.encode()) for k, v in pairs]


async def test_malformed_and_wrong_schema_are_dead_lettered_unknown_types_skipped_and_consumption_goes_on(
    up, world, observer, figures, request
) -> None:
    written: dict[str, dict[str, tuple[bytes, list[tuple[str, bytes]]]]] = {s: {} for s in ONLY_HANDLED_BY}
    unknown: list[str] = []
    key = f"poison-{uuid.uuid4().hex[:12]}"
    producer = OwnerProducers(up.bootstrap, enable_idempotence=True)  # each stream as its owner writes it
    try:
        for service, (topic, ce_type) in ONLY_HANDLED_BY.items():
            for partition in range(PARTITIONS):
                malformed = b'{"inspection_id": "' + key.encode() + b'", "holder_uscc": '  # cut off: not JSON
                wrong = json.dumps({"inspection_id": key, "certificate_numbers": "not a list", "holder_uscc": 42}).encode()
                for value in (malformed, wrong):
                    event_id, headers = headers_for(topic, ce_type, key)
                    await producer.send_and_wait(topic, value, key=key.encode(), headers=headers, partition=partition)
                    written[service][event_id] = (value, headers)
        for topic in (topics.SUPERVISION, topics.CERTIFICATES, topics.APPROVAL):
            for partition in range(PARTITIONS):
                event_id, headers = headers_for(topic, f"{topic.split('.')[0]}.something_new.v9", key)
                await producer.send_and_wait(topic, b'{"whatever": true}', key=key.encode(), headers=headers, partition=partition)
                unknown.append(event_id)
    finally:
        await producer.stop()

    # Consumption goes on: flows started now complete through every consumer that met poison.
    body = await world.approved_body()  # approval.events -> certificates, supervision
    holder = world.new_uscc()
    number = await world.issue(body, holder)  # certificates.events -> supervision
    # Two inspectors per inspection, as a draw assigns.
    [inspector, other, co_inspector, other_co_inspector] = await world.inspectors(4)
    spot_check = await world.order_inspection(holder, "product_spot_check", [inspector, co_inspector])
    await world.directory_view(spot_check["id"], **{number: "valid"})  # supervision handled certificate.issued
    await world.record(spot_check["id"], inspector, spot_check_result([number]), f"after-poison-{uuid.uuid4()}")
    await world.status_becomes(number, "suspended")  # certificates handled supervision.spot_check_failed
    inspection = await world.order_inspection(
        body.uscc, "organisation_inspection", [other, other_co_inspector], target_kind="certification_body"
    )
    await world.record(inspection["id"], other, {"verdict": "fail", "findings": "auditors not qualified"}, f"after-poison-{uuid.uuid4()}")

    async def body_suspended() -> bool:
        return (await world.approval_of(body))["status"] == "suspended"  # approval handled inspection_failed

    await eventually(body_suspended)

    # The dead letters: every malformed and wrong-schema record, with the error, original bytes and headers.
    async with TopicReader(up.bootstrap, *(topics.dead_letters(s) for s in ONLY_HANDLED_BY)) as dlq:
        expected = {(s, i) for s, ids in written.items() for i in ids}
        await dlq.until(lambda seen: {(e.topic.removesuffix(".dlq"), e.id) for e in seen} >= expected, timeout=30)
        await dlq.settle(1.0)
        mine = [e for e in dlq.seen if e.key == key]
    assert len(mine) == len(expected), "each poison record dead-lettered once, the unknown types not at all"
    for letter in mine:
        service = letter.topic.removesuffix(".dlq")
        value, headers = written[service][letter.id]
        assert letter.value == value
        for k, v in headers:
            assert letter.headers[k] == v.decode()
        assert letter.headers["dlq_consumer"] == service
        assert letter.headers["dlq_original_topic"] == ONLY_HANDLED_BY[service][0]
        assert letter.headers["dlq_original_partition"] in {"0", "1", "2"}
        error = letter.headers["dlq_error"]
        if value.startswith(b'{"inspection_id": "') and value.endswith(b": "):
            assert "Invalid JSON" in error, error
        elif service == "supervision":
            assert "certificate_number" in error and "holder_uscc" in error, error
        else:
            assert "holder_uscc" in error or "target_uscc" in error, error

    # The unknown types were skipped: in no inbox, on no dead-letter topic.
    for service, inbox in INBOXES.items():
        found = await up.databases.scalar(
            service, sa.select(sa.func.count()).select_from(inbox).where(inbox.c.event_id.in_(unknown + [
                i for ids in written.values() for i in ids]))
        )
        assert found == 0, f"{service} recorded a poison or unknown event as handled"
    assert not {e.id for e in mine} & set(unknown)
    for service in ("approval", "certificates", "supervision"):
        assert up.health(service)["status"] == "ok"
    figures.record(request.node.name, poison_written=len(expected) + len(unknown), dead_lettered=len(mine),
                   skipped=len(unknown), events_checked=len(mine) + len(unknown), faults_injected=len(expected) + len(unknown))


def cli(*args: str, bootstrap: str) -> subprocess.CompletedProcess[str]:
    conformity = Path(sys.executable).parent / "conformity"
    return subprocess.run(
        [str(conformity), *args, "--bootstrap-servers", bootstrap], capture_output=True, text=True, timeout=60,
        env={**os.environ, "COLUMNS": "300", "NO_COLOR": "1"}, stdin=subprocess.DEVNULL,
    )


async def test_a_dead_letter_replayed_with_the_cli_after_its_cause_is_fixed_takes_effect_once(
    up, world, observer, figures, request
) -> None:
    body = await world.approved_body()
    holder = world.new_uscc()
    number = await world.issue(body, holder)
    [inspector, co_inspector] = await world.inspectors(2)  # at least two, as a draw assigns
    inspection = await world.order_inspection(holder, "product_spot_check", [inspector, co_inspector])

    # The cause: certificates runs with a suspension of 0 months, which the domain refuses, so the
    # handler fails on every attempt and the event is dead-lettered after the last one.
    up.stack.restart("certificates", env={"CONFORMITY_SUSPENSION_MONTHS": "0"})
    try:
        chain = f"e2e-replay-{uuid.uuid4()}"
        await world.record(inspection["id"], inspector, spot_check_result([number]), chain)
        spot_check = await observer.one(events.SpotCheckFailedV1.ce_type, inspection["id"])
        async with TopicReader(up.bootstrap, topics.dead_letters("certificates")) as dlq:
            await dlq.until(lambda seen: any(e.id == spot_check.id for e in seen), timeout=60)
            [letter] = [e for e in dlq.seen if e.id == spot_check.id]
        assert "at least one month" in letter.headers["dlq_error"], letter.headers["dlq_error"]
        assert (await world.public(number))["status"] == "valid"
    finally:
        # The fix: the setting back to its default.
        up.stack.restart("certificates", env={})

    listed = await asyncio.to_thread(cli, "dlq", "list", "--service", "certificates", bootstrap=up.bootstrap)
    assert listed.returncode == 0, listed.stderr
    assert spot_check.id in listed.stdout and "at least one month" in listed.stdout, listed.stdout

    replayed = await asyncio.to_thread(cli, "dlq", "replay", spot_check.id, "--service", "certificates", bootstrap=up.bootstrap)
    assert replayed.returncode == 0, replayed.stderr
    assert f"to {topics.replays('certificates')}:" in replayed.stdout, replayed.stdout  # never back onto a stream

    suspended = await world.status_becomes(number, "suspended")
    assert suspended["suspension"]["reason"] == "spot_check_failed"
    suspension = await observer.one(events.CertificateSuspendedV1.ce_type, number)
    observer.caused(suspension, chain, spot_check)  # the replayed event keeps its id and its chain
    history = (await world.certificate(number))["history"]
    assert [h["to"] for h in history] == ["valid", "suspended"] and history[-1]["cause_event_id"] == spot_check.id

    # Replayed once more (an operator's second try): the inbox knows it, nothing changes.
    again = await asyncio.to_thread(cli, "dlq", "replay", spot_check.id, "--service", "certificates", bootstrap=up.bootstrap)
    assert again.returncode == 0, again.stderr
    # Both replays are on certificates' replay topic and certificates has handled them.
    await testing.group_caught_up(up.bootstrap, "certificates", topics.replays("certificates"))
    await observer.settle(2.0)
    assert len(observer.of(events.CertificateSuspendedV1.ce_type, number)) == 1
    assert len((await world.certificate(number))["history"]) == 2
    figures.record(request.node.name, events_checked=3, faults_injected=1, replayed=2, lost=0, duplicated_in_effect=0)
