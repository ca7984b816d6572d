"""Fixtures of the supervision service's tests: its settings (Kafka at an unreachable address,
so that no test can need a broker), the app with its database migrated and no lifespan, its
runtime, an HTTP client on it, and the directories as the events and the regulator fill them
(`deliver` an event to the consumer, list a `directory` of targets, `register_inspectors`)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from aiokafka.structs import ConsumerRecord
from fastapi import FastAPI

from conformity_shared import events
from conformity_shared.envelope import Envelope
from conformity_devstack import testing
from conformity_shared.runtime import ServiceRuntime
from conformity_devstack.factories import REGULATOR, approval_granted, certificate_issued, inspector_body, new_uscc

from supervision import service
from supervision.app import create_app
from supervision.commands import RegisterInspector
from supervision.settings import SupervisionSettings

Deliver = Callable[..., Awaitable[str]]
Directory = Callable[..., Awaitable[dict[str, list[str]]]]
RegisterInspectors = Callable[..., Awaitable[list[str]]]


@pytest.fixture
def settings(tmp_path: Path, request: pytest.FixtureRequest) -> SupervisionSettings:
    return testing.unit_settings(SupervisionSettings, tmp_path, **getattr(request, "param", {}))


@pytest.fixture
async def app(settings: SupervisionSettings) -> AsyncIterator[FastAPI]:
    """The app over its migrated database, without its lifespan (no broker, no relay)."""
    async with testing.migrated_app(create_app, settings) as application:
        yield application


@pytest.fixture
def runtime(app: FastAPI) -> ServiceRuntime[SupervisionSettings]:
    return app.state.runtime


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with testing.client_of(app) as http:
        yield http


def consumer_record(event: events.Event, envelope: Envelope | None = None, offset: int = 0) -> ConsumerRecord:
    """A Kafka record as the consumer receives it (CloudEvents binary mode)."""
    envelope = envelope or Envelope.for_event(event, "/tests")
    value = event.model_dump_json().encode()
    return ConsumerRecord(
        event.topic, 0, offset, 0, 0, envelope.subject.encode(), value, None, len(envelope.subject), len(value),
        envelope.headers(),
    )


@pytest.fixture
def deliver(runtime: ServiceRuntime[SupervisionSettings]) -> Deliver:
    """Hand an event to the service's consumer, as if read from its topic: "handled", "duplicate" ..."""

    async def deliver(event: events.Event, envelope: Envelope | None = None) -> str:
        assert runtime.consumer is not None
        return await runtime.consumer.handle(consumer_record(event, envelope))

    return deliver


@pytest.fixture
def directory(deliver: Deliver) -> Directory:
    """List bodies, labs and certified enterprises through approval.granted and certificate.issued events."""

    async def directory(bodies: int = 2, labs: int = 2, enterprises: int = 3) -> dict[str, list[str]]:
        made: dict[str, list[str]] = {"certification_body": [], "testing_lab": [], "enterprise": []}
        for kind, count in (("certification_body", bodies), ("testing_lab", labs)):
            for _ in range(count):
                org = new_uscc()
                assert await deliver(approval_granted(org, kind=kind)) == "handled"
                made[kind].append(org)
        body = made["certification_body"][0] if made["certification_body"] else new_uscc()
        for _ in range(enterprises):
            holder = new_uscc()
            assert await deliver(certificate_issued(holder, body)) == "handled"
            made["enterprise"].append(holder)
        return made

    return directory


@pytest.fixture
def register_inspectors(runtime: ServiceRuntime[SupervisionSettings]) -> RegisterInspectors:
    """Register `count` active inspectors working for `organisation` (by default each for a new one)."""

    async def register_inspectors(count: int, organisation: str | None = None) -> list[str]:
        ids = []
        for _ in range(count):
            inspector_id = f"insp-{uuid.uuid4().hex[:8]}"
            command = RegisterInspector(**inspector_body(inspector_id, organisation, name="Zhang San"))
            await service.register_inspector(runtime, REGULATOR, command)
            ids.append(inspector_id)
        return ids

    return register_inspectors
