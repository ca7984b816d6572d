"""Fixtures of the supervision service's tests: its settings (Kafka at an unreachable address,
so that no test can need a broker), the app with its database migrated and no lifespan, its
runtime, an HTTP client on it, and the directories as the events and the regulator fill them
(`deliver` an event to the consumer, list a `directory` of targets, `register_inspectors`),
and `campaigns` walked through their lifecycle by the regulator and an observer."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka.structs import ConsumerRecord
from fastapi import FastAPI

from conformity_shared import events
from conformity_shared.auth import Principal, Role
from conformity_shared.clock import FixedClock
from conformity_shared.envelope import Envelope
from conformity_devstack import testing
from conformity_devstack.campaigns import CampaignWalk
from conformity_devstack.testing import envelope_as_owner
from conformity_shared.runtime import ServiceRuntime
from conformity_devstack.factories import (
    BEACON_VALUE,
    REGULATOR,
    approval_granted,
    campaign_request,
    certificate_issued,
    commitment,
    inspector_body,
    new_uscc,
)

from supervision import service
from supervision.app import create_app
from supervision.commands import (
    CancelCampaign,
    CommitToCampaign,
    CreateCampaign,
    DrawCampaign,
    RegisterInspector,
    RevealSecret,
)
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
    envelope = envelope or envelope_as_owner(event)
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


class Campaigns:
    """Campaigns walked through their lifecycle by the regulator and the observers, through the use
    cases, on the runtime's clock: a FixedClock that the walk moves past the deadlines (no sleeping)."""

    def __init__(self, runtime: ServiceRuntime[SupervisionSettings]) -> None:
        self.runtime = runtime

    def now(self) -> dt.datetime:
        if not isinstance(self.runtime.clock, FixedClock):
            self.runtime.clock = FixedClock(self.runtime.clock.zone, self.runtime.clock.now())
        return self.runtime.clock.now()

    def move_to(self, instant: dt.datetime) -> None:
        self.now()
        self.runtime.clock = self.runtime.clock.at(instant)

    @staticmethod
    def principal(party: str) -> Principal:
        return REGULATOR if party == "regulator" else Principal(party, Role.OBSERVER)

    @staticmethod
    def secret(campaign_id: str, party: str) -> str:
        """The party's secret for the campaign: 64 hex characters no one else derives in a test."""
        return hashlib.sha256(f"{campaign_id}/{party}/{uuid.uuid5(uuid.NAMESPACE_URL, party)}".encode()).hexdigest()

    async def create(self, **overrides: Any) -> dict[str, Any]:
        request = campaign_request(now=self.now(), reveal_in=60, beacon_in=120) | overrides
        return await service.create_campaign(self.runtime, REGULATOR, CreateCampaign(**request))

    async def commit(self, campaign_id: str, party: str, value: str | None = None) -> dict[str, Any]:
        value = value or commitment(party, self.secret(campaign_id, party))
        command = CommitToCampaign(campaign_id=campaign_id, commitment=value)
        return await service.commit_to_campaign(self.runtime, self.principal(party), command)

    async def freeze(self, campaign_id: str) -> dict[str, Any]:
        return await service.freeze_campaign(self.runtime, REGULATOR, campaign_id)

    async def reveal(self, campaign_id: str, party: str, secret: str | None = None) -> dict[str, Any]:
        command = RevealSecret(campaign_id=campaign_id, secret=secret or self.secret(campaign_id, party))
        return await service.reveal_secret(self.runtime, self.principal(party), command)

    async def draw(self, campaign_id: str, beacon_value: str = BEACON_VALUE) -> dict[str, Any]:
        command = DrawCampaign(campaign_id=campaign_id, beacon_value=beacon_value)
        return await service.draw_campaign(self.runtime, REGULATOR, command)

    async def cancel(self, campaign_id: str, reason: str) -> dict[str, Any]:
        command = CancelCampaign(campaign_id=campaign_id, reason=reason)
        return await service.cancel_campaign(self.runtime, REGULATOR, command)

    async def frozen(self, **overrides: Any) -> dict[str, Any]:
        """Created, committed to by every party, frozen."""
        created = await self.create(**overrides)
        for party in created["parties"]:
            await self.commit(created["id"], party["party"])
        return await self.freeze(created["id"])

    async def drawn(self, *, withhold: Iterable[str] = (), **overrides: Any) -> dict[str, Any]:
        """Frozen, revealed by every party but `withhold`, drawn once the beacon is due."""
        frozen = await self.frozen(**overrides)
        for party in frozen["parties"]:
            if party["party"] not in set(withhold):
                await self.reveal(frozen["id"], party["party"])
        self.move_to(dt.datetime.fromisoformat(frozen["beacon"]["due"]))
        return await self.draw(frozen["id"])


@pytest.fixture
def campaigns(runtime: ServiceRuntime[SupervisionSettings]) -> Campaigns:
    return Campaigns(runtime)


@pytest.fixture
def http_campaigns(client: httpx.AsyncClient, runtime: ServiceRuntime[SupervisionSettings]) -> CampaignWalk:
    """Campaigns walked over HTTP by the regulator and observers; waiting for the beacon moves the
    runtime's FixedClock instead of sleeping."""
    runtime.clock = FixedClock(runtime.clock.zone, runtime.clock.now())

    async def until(instant: dt.datetime) -> None:
        runtime.clock = runtime.clock.at(max(instant, runtime.clock.now()))

    return CampaignWalk(client, until=until)
