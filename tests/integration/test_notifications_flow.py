"""Notifications over the real broker: a body's revocation suspends N certificates, the
suspension deadline then withdraws them, and three subscribers watching them (by number, by
issuing body, by holder) each receive every change as a signed webhook at their own receiver:
one fails 30% of requests, one is slow, one is down at first and comes back. Two replicas of
notifications share the work (claims by FOR UPDATE SKIP LOCKED on PostgreSQL, `make
integration-postgres`; one writer at a time on SQLite).

None is lost, none arrives out of order per certificate (a withdrawal is sent only after the
suspension before it was accepted), and anything received twice came with the same webhook-id.
N is 300 here (2N changes, 6N webhooks); bench/notifications.py runs N = 10,000.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import httpx
import pytest
import sqlalchemy as sa

from conformity_devstack.factories import approval_change, approval_granted, certificate_request, new_uscc
from conformity_devstack.kafka import free_port
from conformity_devstack.testing import OwnerProducers, eventually, publish_as_owner, running, token
from conformity_devstack.webhook_checks import accepted_changes, all_delivered, assert_none_lost_and_repeats_the_same
from conformity_operators.webhook_receiver import Receiver
from conformity_shared import events
from conformity_shared.auth import Role

from certificates import db as certificates_db, scheduler
from certificates.app import create_app as certificates_app
from notifications import db as notifications_db
from notifications.app import create_app as notifications_app
from notifications.settings import NotificationsSettings

N = 300
HOLDERS = 3


@pytest.fixture
async def producer(kafka: str) -> AsyncIterator[OwnerProducers]:
    async with OwnerProducers(kafka) as producers:
        yield producers


def settings() -> NotificationsSettings:
    """Retries in fractions of a second (the defaults are minutes and days), nothing disabled."""
    return NotificationsSettings(delivery_retry_base_seconds=0.05, delivery_retry_max_seconds=1.0,
                                 delivery_poll_seconds=0.2, delivery_timeout_seconds=5,
                                 endpoint_disable_after_failures=1_000_000)


async def issue_all(certs: httpx.AsyncClient, body: str, holders: list[str]) -> list[str]:
    agency = token(Role.AGENCY, org=body)

    async def first() -> str | None:  # once approval.granted has reached the certificates service
        answer = await certs.post("/certificates", headers=agency, json=certificate_request(holders[0]))
        return answer.json()["number"] if answer.status_code == 201 else None

    numbers = [await eventually(first, timeout=60)]
    for n in range(1, N):
        answer = await certs.post("/certificates", headers=agency, json=certificate_request(holders[n % HOLDERS]))
        assert answer.status_code == 201, answer.text
        numbers.append(answer.json()["number"])
    return numbers


async def subscribe(notes: httpx.AsyncClient, receiver: Receiver, kind: str, values: list[str]) -> str:
    subscriber = new_uscc()
    auth = token(Role.PLATFORM, org=subscriber)
    endpoint = await notes.post("/endpoints", headers=auth, json={"url": receiver.url})
    assert endpoint.status_code == 201, endpoint.text
    receiver.secrets.append(endpoint.json()["secret"])
    watched = await notes.post("/watchlist", headers=auth, json={"kind": kind, "values": values})
    assert watched.status_code == 200, watched.text
    return subscriber


async def count_status(certs: httpx.AsyncClient, numbers: list[str], status: str) -> int:
    runtime = certs._transport.app.state.runtime  # type: ignore[attr-defined]
    c = certificates_db.certificates.c
    async with runtime.sessions() as session:
        return await session.scalar(sa.select(sa.func.count()).where(c.number.in_(numbers), c.status == status)) or 0


@pytest.mark.timeout(900)
async def test_a_revocation_reaches_every_watching_subscriber_once_in_order(service_env, kafka: str,
                                                                           producer: OwnerProducers) -> None:
    body, holders = new_uscc(), [new_uscc() for _ in range(HOLDERS)]
    flaky = await Receiver(free_port(), fail_ratio=0.3, seed=11).start()
    slow = await Receiver(free_port(), delay_seconds=0.3).start()
    down = Receiver(free_port())  # not listening yet: connections are refused
    try:
        # Two replicas of notifications on one database: they share the consumption and the sending.
        async with (running(certificates_app()) as certs, running(notifications_app(settings())) as notes,
                    running(notifications_app(settings())) as _replica):
            granted = approval_granted(body, ["MS-QMS"])
            await publish_as_owner(kafka, granted)
            numbers = await issue_all(certs, body, holders)
            await subscribe(notes, flaky, "certificate", numbers)
            await subscribe(notes, slow, "issuing_body", [body])
            await subscribe(notes, down, "holder", holders)

            await publish_as_owner(kafka, approval_change(events.ApprovalRevokedV1, body, granted.approval_id,
                                                          reason="commitment breached"))
            await eventually(lambda: _all(certs, numbers, "suspended"), timeout=120)
            deadline = dt.date.today() + dt.timedelta(days=200)  # past every suspension's six months
            withdrawn = await scheduler.run_due_transitions(certs._transport.app.state.runtime, today=deadline)  # type: ignore[attr-defined]
            assert withdrawn["withdrawn"] >= N

            expected = {(number, status) for number in numbers for status in ("suspended", "withdrawn")}
            await eventually(lambda: _has_attempted(notes, down), timeout=120)
            await down.start()  # back

            for receiver in (flaky, slow, down):
                await eventually(lambda r=receiver: accepted_changes(r) >= expected or None, timeout=600, interval=1)
            await eventually(lambda: all_delivered(notes, 6 * N), timeout=60)

        for receiver in (flaky, slow, down):
            assert receiver.bad_signatures == 0
            _none_lost_none_out_of_order(receiver, expected)
        assert any(r.status == 500 for r in flaky.receipts)  # the 30% failures did happen, and were retried
    finally:
        for receiver in (flaky, slow, down):
            await receiver.stop()


async def _all(certs: httpx.AsyncClient, numbers: list[str], status: str) -> bool | None:
    return await count_status(certs, numbers, status) == len(numbers) or None


async def _has_attempted(notes: httpx.AsyncClient, receiver: Receiver) -> bool | None:
    """The down receiver's deliveries have all been made and tried at least once."""
    runtime = notes._transport.app.state.runtime  # type: ignore[attr-defined]
    d = notifications_db.deliveries.c
    e = notifications_db.endpoints.c
    async with runtime.sessions() as session:
        failed = await session.scalar(
            sa.select(sa.func.count()).select_from(notifications_db.deliveries.join(notifications_db.endpoints))
            .where(e.url == receiver.url, d.attempts > 0))
        owed = await session.scalar(
            sa.select(sa.func.count()).select_from(notifications_db.deliveries.join(notifications_db.endpoints))
            .where(e.url == receiver.url))
    return (failed or 0) >= 1 and (owed or 0) >= N or None


def _none_lost_none_out_of_order(receiver: Receiver, expected: set[tuple[str, str]]) -> None:
    assert_none_lost_and_repeats_the_same(receiver, expected)
    # In order per certificate: its withdrawal is first received after its suspension was accepted.
    accepted_at: dict[str, int] = {}
    for index, receipt in enumerate(receiver.receipts):
        data = receipt.json()["data"]
        if data["new_status"] == "suspended" and 200 <= receipt.status < 300:
            accepted_at.setdefault(data["certificate_number"], index)
        if data["new_status"] == "withdrawn":
            assert data["certificate_number"] in accepted_at, f"{data['certificate_number']} withdrawn before suspended"
            assert data["old_status"] == "suspended"
