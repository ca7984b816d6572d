"""The `conformity` command against a real broker: tail, trace, dead letters, tokens, and the
messages an operator gets when the broker or a service is not there."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid

import jwt
import pytest
from typer.testing import CliRunner

from conformity_shared import topics
from conformity_shared.auth import Principal, Role
from conformity_devstack import dev_keys, testing
from conformity_devstack.kafka import free_port
from conformity_devstack.testing import OwnerProducers, TopicReader
from conformity_operators.cli import app

WIDE = {"COLUMNS": "220"}


def conformity(*args: str, env: dict[str, str] | None = None):  # noqa: ANN201
    return CliRunner().invoke(app, list(args), env={**WIDE, **(env or {})})


# --- events tail ------------------------------------------------------------------------------


@pytest.mark.integration
def test_tail_prints_one_readable_line_per_event_of_a_request(kafka: str, chain) -> None:  # noqa: ANN001
    result = conformity("events", "tail", "--end", "-c", chain.correlation_id, "-b", kafka)
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 3
    spot, credit, suspension = lines
    assert "supervision.spot_check_failed.v1" in spot and chain.inspection_id in spot and chain.number in spot
    assert "supervision.credit_class_changed.v1" in credit and "credit A → B" in credit
    assert "certificate.suspended.v1" in suspension
    assert f"holder {chain.holder}" in suspension and "reason spot_check_failed" in suspension
    assert "until 2030-06-01" in suspension


@pytest.mark.integration
def test_tail_filters_by_type_subject_and_organisation(kafka: str, chain) -> None:  # noqa: ANN001
    by_type = conformity("events", "tail", "--end", "-c", chain.correlation_id, "--type", "certificate.*", "-b", kafka)
    assert [line.split()[2] for line in by_type.stdout.splitlines()] == ["certificate.suspended.v1"]
    by_org = conformity("events", "tail", "--end", "--org", chain.body, "-b", kafka)
    assert by_org.exit_code == 0
    assert len(by_org.stdout.splitlines()) == 1 and chain.number in by_org.stdout
    by_subject = conformity("events", "tail", "--end", "--subject", chain.inspection_id, "-b", kafka)
    assert len(by_subject.stdout.splitlines()) == 1 and "spot_check_failed" in by_subject.stdout
    by_topic = conformity("events", "tail", "--end", "-t", "certificates", "-c", chain.correlation_id, "-b", kafka)
    assert len(by_topic.stdout.splitlines()) == 1


@pytest.mark.integration
def test_tail_json_prints_headers_and_payload_one_object_per_line(kafka: str, chain) -> None:  # noqa: ANN001
    result = conformity("events", "tail", "--end", "--json", "-c", chain.correlation_id, "-b", kafka)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["headers"]["ce_type"] for r in records] == [
        "supervision.spot_check_failed.v1", "supervision.credit_class_changed.v1", "certificate.suspended.v1",
    ]
    suspension = records[-1]
    assert suspension["headers"]["ce_causationid"] == chain.spot_check.id
    assert suspension["headers"]["ce_correlationid"] == chain.correlation_id
    assert suspension["payload"]["certificate_number"] == chain.number
    assert suspension["key"] == chain.number and suspension["topic"] == "certificates.events"


@pytest.mark.integration
def test_tail_follows_events_published_after_it_started(kafka: str, new_chain, publish_events) -> None:  # noqa: ANN001
    later, pairs = new_chain()
    command = [sys.executable, "-m", "conformity_operators.cli", "events", "tail", "-c", later.correlation_id,
               "--count", "3", "-b", kafka]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env={**os.environ, "COLUMNS": "220"}) as tail:
        assert tail.stderr is not None
        assert "following" in tail.stderr.readline()  # connected and positioned at the end: now publish
        asyncio.run(publish_events(kafka, *pairs))
        out, err = tail.communicate(timeout=60)
    assert tail.returncode == 0, err
    assert [line.split()[2] for line in out.splitlines()] == [
        "supervision.spot_check_failed.v1", "supervision.credit_class_changed.v1", "certificate.suspended.v1",
    ]


# --- trace ------------------------------------------------------------------------------------


@pytest.mark.integration
def test_trace_prints_the_causal_tree_with_timings(kafka: str, chain) -> None:  # noqa: ANN001
    result = conformity("trace", chain.correlation_id, "-b", kafka)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"request {chain.correlation_id}" in out and "3 event(s)" in out
    spot_line = next(line for line in out.splitlines() if "supervision.spot_check_failed.v1" in line)
    suspension_line = next(line for line in out.splitlines() if "certificate.suspended.v1" in line)
    # The suspension is drawn one level deeper than the spot check that caused it.
    assert suspension_line.index("certificate.suspended.v1") > spot_line.index("supervision.spot_check_failed.v1")
    assert " ms" in suspension_line
    assert "reason spot_check_failed" in out


@pytest.mark.integration
def test_trace_by_event_id_shows_the_whole_chain_and_marks_the_event(kafka: str, chain) -> None:  # noqa: ANN001
    result = conformity("trace", chain.suspension.id, "--json", "-b", kafka)
    assert result.exit_code == 0, result.output
    tree = json.loads(result.stdout)
    assert tree["correlation_id"] == chain.correlation_id
    assert tree["focus"] == chain.suspension.id
    spot = tree["roots"][0]
    assert spot["id"] == chain.spot_check.id
    assert spot["children"][0]["id"] == chain.suspension.id
    assert spot["children"][0]["since_cause_ms"] > 0


@pytest.mark.integration
def test_trace_of_an_unknown_id_says_so(kafka: str) -> None:
    unknown = str(uuid.uuid4())
    result = conformity("trace", unknown, "-b", kafka)
    assert result.exit_code == 1
    assert f"no event on approval.events, certificates.events, supervision.events, proficiency.events, notifications.events has the correlation id or event id {unknown}" in result.stderr


# --- dead letters -----------------------------------------------------------------------------


@pytest.mark.integration
def test_dead_letters_are_listed_shown_and_replayed_as_they_were(kafka: str, new_chain, publish_events) -> None:  # noqa: ANN001

    _, pairs = new_chain()
    envelope, event = pairs[2]
    consumer = "certificates"  # a real consumer: the broker lets the tools touch only the platform's topics
    original_topic = topics.SUPERVISION
    original = event.model_dump_json().encode()
    dead_headers = [
        *envelope.headers(), ("dlq_error", b"certificate.suspended.v1: reason: field required"),
        ("dlq_consumer", consumer.encode()), ("dlq_original_topic", original_topic.encode()),
        ("dlq_original_partition", b"2"), ("dlq_original_offset", b"41"), ("dlq_time", b"2025-11-23T01:00:00+00:00"),
    ]

    async def dead_letter() -> None:
        producer = OwnerProducers(kafka)
        try:
            await producer.send_and_wait(f"{consumer}.dlq", original, key=envelope.subject.encode(), headers=dead_headers)
        finally:
            await producer.stop()

    asyncio.run(dead_letter())

    listed = conformity("dlq", "list", "--service", consumer, "-b", kafka)
    assert listed.exit_code == 0, listed.output
    assert envelope.id in listed.stdout and "field required" in listed.stdout and consumer in listed.stdout
    assert envelope.id in conformity("dlq", "list", "-b", kafka).stdout

    shown = conformity("dlq", "show", envelope.id[:8], "-b", kafka)
    assert shown.exit_code == 0, shown.output
    assert f"{original_topic}:2:41" in shown.stdout and "reason: field required" in shown.stdout
    assert "ce_correlationid" in shown.stdout and "dlq_error" not in shown.stdout.split("original headers")[1]

    replayed = conformity("dlq", "replay", envelope.id, "--service", consumer, "-b", kafka)
    assert replayed.exit_code == 0, replayed.output
    assert f"to {topics.replays(consumer)}:" in replayed.stdout  # never back onto a stream

    async def read_back() -> list:
        async with TopicReader(kafka, topics.replays(consumer), user=consumer) as reader:
            return await reader.until(lambda seen: any(s.id == envelope.id for s in seen), timeout=30)

    [back] = [s for s in asyncio.run(read_back()) if s.id == envelope.id]
    assert back.value == original
    assert back.key == envelope.subject
    origin = {"dlq_original_topic": original_topic, "dlq_original_partition": "2", "dlq_original_offset": "41"}
    assert back.headers == {**{k: v.decode() for k, v in envelope.headers()}, **origin}


@pytest.mark.integration
def test_an_unknown_dead_letter_is_reported(kafka: str) -> None:
    result = conformity("dlq", "show", "no-such-letter", "--service", "certificates", "-b", kafka)
    assert result.exit_code == 1
    assert "no dead letter no-such-letter" in result.stderr


# --- tokens -----------------------------------------------------------------------------------


def accepted(token: str) -> Principal:
    """The principal a development service trusting the development issuer's keys sees in `token`."""
    key_set = json.dumps(dev_keys.jwks(dev_keys.KeyStore().published()))
    return asyncio.run(testing.verified(token, key_set, dev_keys.development_issuer()))


def test_token_issue_prints_a_token_the_services_accept() -> None:
    result = conformity("token", "issue", "--role", "agency", "--org", "91350100M000100Y43")
    assert result.exit_code == 0, result.output
    principal = accepted(result.stdout.strip())
    assert principal.role is Role.AGENCY and principal.org == "91350100M000100Y43"
    inspector = accepted(conformity("token", "issue", "--role", "inspector", "--inspector-id", "insp-7").stdout.strip())
    assert inspector.inspector_id == "insp-7"


def test_token_issue_prints_an_observer_token_naming_the_observer() -> None:
    result = conformity("token", "issue", "--role", "observer", "--subject", "notary-fuzhou")
    assert result.exit_code == 0, result.output
    principal = accepted(result.stdout.strip())
    assert (principal.role, principal.subject) == (Role.OBSERVER, "notary-fuzhou")
    refused = conformity("token", "issue", "--role", "observer")
    assert refused.exit_code == 2 and "subject" in refused.stderr


def test_token_issue_refuses_an_agency_token_without_organisation() -> None:
    result = conformity("token", "issue", "--role", "agency")
    assert result.exit_code == 2
    assert "needs an organisation code" in result.stderr
    assert "Traceback" not in result.output


def test_token_issue_signs_with_the_development_issuers_key(tmp_path) -> None:  # noqa: ANN001
    result = conformity("token", "issue", "--role", "regulator", env={"CONFORMITY_DEV_ISSUER_KEYS": str(tmp_path)})
    assert result.exit_code == 0, result.output
    assert jwt.get_unverified_header(result.stdout.strip())["kid"] == dev_keys.KeyStore(tmp_path).signing_key().kid


# --- when the platform is not there -----------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [("events", "tail"), ("events", "tail", "--end"), ("trace", "some-request"), ("dlq", "list"),
     ("dlq", "replay", "some-event")],
    ids=lambda c: " ".join(c),
)
def test_a_missing_broker_is_reported_with_what_to_run(command: tuple[str, ...]) -> None:
    port = free_port()  # nothing listens there
    result = conformity(*command, "-b", f"127.0.0.1:{port}")
    assert result.exit_code == 3, result.output
    assert f"no Kafka broker at 127.0.0.1:{port}" in result.stderr
    assert "start the platform with `make run`" in result.stderr
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_the_demo_reports_a_missing_service_with_what_to_run() -> None:
    port = free_port()
    result = conformity("demo", env={"CONFORMITY_APPROVAL_URL": f"http://127.0.0.1:{port}"})
    assert result.exit_code == 3, result.output
    assert f"the approval service does not answer at http://127.0.0.1:{port}" in result.stderr
    assert "start the platform with `make run`" in result.stderr
    assert "Traceback" not in result.output
