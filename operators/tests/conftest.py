"""Fixtures of the operator tools' tests: a real Kafka broker for the session (the same
choice as tests/integration: KAFKA_BOOTSTRAP_SERVERS, a container, or the local broker),
fresh service databases per test, and a causal chain of events published to the broker.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from conformity_shared import events, uscc
from conformity_devstack.testing import OwnerProducers
from conformity_shared.envelope import Envelope, causal_context


@pytest.fixture
def service_env(kafka: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings for services started in this test: the session broker, fresh SQLite databases."""
    monkeypatch.setenv("CONFORMITY_KAFKA_BOOTSTRAP_SERVERS", kafka)
    monkeypatch.setenv("CONFORMITY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CONFORMITY_OUTBOX_POLL_SECONDS", "0.5")
    monkeypatch.setenv("CONFORMITY_LOG_JSON", "false")
    return tmp_path


@dataclass
class Chain:
    """A failed spot check and its consequences, as the services would publish them."""

    correlation_id: str
    holder: str
    body: str
    number: str
    inspection_id: str
    spot_check: Envelope
    suspension: Envelope
    credit: Envelope


async def publish(bootstrap: str, *pairs: tuple[Envelope, events.Event]) -> None:
    producer = OwnerProducers(bootstrap)
    try:
        for envelope, event in pairs:
            await producer.send_and_wait(
                event.topic, event.model_dump_json().encode(), key=envelope.subject.encode(), headers=envelope.headers()
            )
    finally:
        await producer.stop()


def _enveloped(event: events.Event, source: str, correlation_id: str, cause: str) -> tuple[Envelope, events.Event]:
    with causal_context(correlation_id, cause):
        envelope = Envelope.for_event(event, source)
    time.sleep(0.02)  # distinct, ordered times: the chain's timings are asserted
    return envelope, event


def make_chain() -> tuple[Chain, list[tuple[Envelope, events.Event]]]:
    rng = random.Random()
    correlation_id, holder, body = str(uuid.uuid4()), uscc.make(rng), uscc.make(rng)
    number, inspection_id = f"MSC2025TEST{rng.randrange(10**8):08d}", str(uuid.uuid4())
    spot = _enveloped(
        events.SpotCheckFailedV1(inspection_id=inspection_id, holder_uscc=holder, certificate_numbers=[number],
                                 findings="sample overheats (GB 4706.19 clause 11)"),
        "/conformity/supervision", correlation_id, correlation_id,
    )
    credit = _enveloped(
        events.CreditClassChangedV1(organisation_uscc=holder, previous="A", current="B", cause="spot_check_failed"),
        "/conformity/supervision", correlation_id, correlation_id,
    )
    suspension = _enveloped(
        events.CertificateSuspendedV1(certificate_number=number, issuing_body_uscc=body, holder_uscc=holder,
                                      reason="spot_check_failed", suspended_until=dt.date(2030, 6, 1)),
        "/conformity/certificates", correlation_id, spot[0].id,
    )
    chain = Chain(correlation_id, holder, body, number, inspection_id, spot[0], suspension[0], credit[0])
    return chain, [spot, credit, suspension]


@pytest.fixture
def new_chain() -> Callable[[], tuple[Chain, list[tuple[Envelope, events.Event]]]]:
    """Make (not publish) a fresh causal chain: its Chain and its (envelope, event) pairs."""
    return make_chain


@pytest.fixture
def publish_events() -> Callable[..., Awaitable[None]]:
    return publish


@pytest.fixture(scope="module")
def chain(kafka: str) -> Chain:
    """One causal chain on the broker: spot check -> (suspension, and the credit change beside it)."""
    found, pairs = make_chain()
    asyncio.run(publish(kafka, *pairs))
    return found
