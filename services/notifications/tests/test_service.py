"""The use cases over a real database, without Kafka: a change of a watched certificate owes
one delivery per endpoint; the worker's round signs and sends them, in order per certificate,
retries, gives up, disables an endpoint and keeps its backlog; replays keep the webhook-id.

Receivers are httpx transports in this process (the SSRF guard of the real client is tested
on its own, against a socket of this machine)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable

import httpx
import pytest
import sqlalchemy as sa
from standardwebhooks.webhooks import Webhook

from conformity_devstack.factories import new_uscc
from conformity_shared import events
from conformity_shared.auth import Principal, Role
from conformity_shared.envelope import decode_headers
from conformity_shared.runtime import ServiceRuntime

from notifications import db, sender, service
from notifications.domain.watchlists import WatchKind
from notifications.settings import NotificationsSettings

Runtime = ServiceRuntime[NotificationsSettings]


def platform(org: str) -> Principal:
    return Principal(subject=org, role=Role.PLATFORM, org=org)


def suspended(number: str, holder: str, body: str) -> events.CertificateSuspendedV1:
    return events.CertificateSuspendedV1(certificate_number=number, issuing_body_uscc=body, holder_uscc=holder,
                                         reason="issuing_body_revoked", suspended_until=dt.date(2027, 5, 26))


def withdrawn(number: str, holder: str, body: str) -> events.CertificateWithdrawnV1:
    return events.CertificateWithdrawnV1(certificate_number=number, issuing_body_uscc=body, holder_uscc=holder,
                                         reason="suspension deadline passed")


async def happen(runtime: Runtime, event: events.CertificateEvent) -> str:
    """The consumer's part: the event handled in a unit of work, as if it came from Kafka."""
    async with runtime.unit_of_work() as uow:
        uow.cause_event_id = str(uuid.uuid4())
        await service.record_status_change(uow, event)
        await uow.commit()
    return uow.cause_event_id


class Receiver:
    """A webhook receiver: answers with `answer(request)`, keeps what it was sent."""

    def __init__(self, answer: Callable[[httpx.Request], int] = lambda r: 204) -> None:
        self.answer = answer
        self.received: list[httpx.Request] = []

    def client(self) -> httpx.AsyncClient:
        def handle(request: httpx.Request) -> httpx.Response:
            self.received.append(request)
            return httpx.Response(self.answer(request))

        return httpx.AsyncClient(transport=httpx.MockTransport(handle))

    def bodies(self) -> list[dict]:
        return [json.loads(r.content) for r in self.received]


@pytest.fixture
def subscriber() -> str:
    return new_uscc()


async def subscribe(runtime: Runtime, subscriber: str, kind: WatchKind, values: list[str],
                    url: str = "https://hooks.shop.example.com/conformity") -> dict:
    endpoint = await service.create_endpoint(runtime, platform(subscriber), url, None)
    await service.add_watches(runtime, platform(subscriber), kind, values)
    return endpoint


async def deliveries(runtime: Runtime) -> list[sa.Row]:
    async with runtime.engine.connect() as conn:
        return list(await conn.execute(sa.select(db.deliveries).order_by(db.deliveries.c.seq)))


async def make_due(runtime: Runtime) -> None:
    """Time passes: every pending delivery's next attempt is due."""
    async with runtime.engine.begin() as conn:
        await conn.execute(sa.update(db.deliveries).values(next_attempt_at=runtime.clock.now() - dt.timedelta(seconds=1)))


async def test_a_watched_certificates_change_owes_one_delivery_per_endpoint(runtime: Runtime, subscriber: str) -> None:
    holder, body, other = new_uscc(), new_uscc(), new_uscc()
    await subscribe(runtime, subscriber, WatchKind.CERTIFICATE, ["CCC20260Y4300000001"])
    await service.create_endpoint(runtime, platform(subscriber), "https://backup.shop.example.com/hook", None)
    await subscribe(runtime, other, WatchKind.ISSUING_BODY, [body])

    await happen(runtime, suspended("CCC20260Y4300000001", holder, body))
    await happen(runtime, suspended("CCC20260Y4300000099", new_uscc(), new_uscc()))  # watched by nobody

    owed = await deliveries(runtime)
    assert sorted(d.subscriber_uscc for d in owed) == sorted([subscriber, subscriber, other])
    assert {d.certificate_number for d in owed} == {"CCC20260Y4300000001"}


async def test_a_delivery_is_signed_and_carries_the_change(runtime: Runtime, subscriber: str) -> None:
    holder, body = new_uscc(), new_uscc()
    endpoint = await subscribe(runtime, subscriber, WatchKind.HOLDER, [holder])
    event_id = await happen(runtime, suspended("CCC20260Y4300000002", holder, body))
    receiver = Receiver()

    assert await service.send_due(runtime, receiver.client()) == 1

    request = receiver.received[0]
    payload = Webhook(endpoint["secret"]).verify(request.content, dict(request.headers))
    assert request.headers["webhook-id"] == (await deliveries(runtime))[0].id
    assert payload["type"] == "certificate.status_changed"
    assert payload["data"] | {"effective_at": None} == {
        "certificate_number": "CCC20260Y4300000002", "holder_uscc": holder, "issuing_body_uscc": body,
        "scheme": None, "old_status": "valid", "new_status": "suspended", "reason": "issuing_body_revoked",
        "effective_at": None, "event_id": event_id, "event_type": "certificate.suspended.v1", "correlation_id": None,
    }
    assert (await deliveries(runtime))[0].status == "delivered"


async def test_a_later_change_waits_until_the_earlier_is_delivered(runtime: Runtime, subscriber: str) -> None:
    holder, body = new_uscc(), new_uscc()
    await subscribe(runtime, subscriber, WatchKind.CERTIFICATE, ["CCC20260Y4300000003", "CCC20260Y4300000004"])
    await happen(runtime, suspended("CCC20260Y4300000003", holder, body))
    await happen(runtime, withdrawn("CCC20260Y4300000003", holder, body))
    await happen(runtime, suspended("CCC20260Y4300000004", holder, body))
    failing = Receiver(lambda r: 503)

    await service.send_due(runtime, failing.client())
    # The withdrawal of ...03 waits behind its failed suspension; ...04 is not held back by it.
    assert sorted(json.loads(r.content)["data"]["certificate_number"] for r in failing.received) == [
        "CCC20260Y4300000003", "CCC20260Y4300000004"]
    assert {json.loads(r.content)["data"]["new_status"] for r in failing.received} == {"suspended"}

    await make_due(runtime)
    working = Receiver()
    await service.send_due(runtime, working.client())
    await service.send_due(runtime, working.client())
    ordered = [(b["data"]["certificate_number"], b["data"]["new_status"]) for b in working.bodies()]
    assert ordered.index(("CCC20260Y4300000003", "suspended")) < ordered.index(("CCC20260Y4300000003", "withdrawn"))
    assert {d.status for d in await deliveries(runtime)} == {"delivered"}
    # its withdrawal's old status comes from the read model the suspension left
    assert ("CCC20260Y4300000003", "withdrawn") in ordered
    withdrawal = next(b for b in working.bodies() if b["data"]["new_status"] == "withdrawn")
    assert withdrawal["data"]["old_status"] == "suspended"


async def test_every_attempt_is_recorded_and_retries_keep_the_webhook_id(runtime: Runtime, subscriber: str) -> None:
    holder = new_uscc()
    await subscribe(runtime, subscriber, WatchKind.HOLDER, [holder])
    await happen(runtime, suspended("CCC20260Y4300000005", holder, new_uscc()))
    answers = iter([500, 502, 200])
    receiver = Receiver(lambda r: next(answers))
    for _ in range(3):
        await service.send_due(runtime, receiver.client())
        await make_due(runtime)

    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
    listed = await service.list_deliveries(runtime, platform(subscriber), status=None, endpoint_id=None,
                                           certificate_number=None, after=0, limit=10)
    delivery = listed["deliveries"][0]
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 3)
    detail = await service.get_delivery(runtime, platform(subscriber), delivery["id"])
    assert [a["status_code"] for a in detail["attempt_log"]] == [500, 502, 200]
    assert detail["payload"]["data"]["certificate_number"] == "CCC20260Y4300000005"


async def published(runtime: Runtime) -> list[tuple[str, dict[str, str], dict]]:
    """The outbox: (type, headers, payload) of every event the service owes its stream, in order."""
    async with runtime.engine.connect() as conn:
        rows = (await conn.execute(sa.select(db.outbox).order_by(db.outbox.c.seq))).all()
    return [(r.event_type, {k: v.decode() for k, v in decode_headers(r.headers)}, json.loads(r.payload)) for r in rows]


async def test_each_outcome_is_announced_beneath_the_certificate_event_without_the_url(runtime: Runtime,
                                                                                        subscriber: str) -> None:
    holder = new_uscc()
    endpoint = await subscribe(runtime, subscriber, WatchKind.HOLDER, [holder])
    cause = await happen(runtime, suspended("CCC20260Y4300000007", holder, new_uscc()))
    answers = iter([500, 502, 200])
    receiver = Receiver(lambda r: next(answers))
    for _ in range(3):
        await service.send_due(runtime, receiver.client())
        await make_due(runtime)

    announced = await published(runtime)
    # the first failure says it is being retried (once, not at every attempt), then the delivery
    assert [t for t, _h, _p in announced] == ["notification.delivery_retrying.v1", "notification.delivered.v1"]
    webhook_id = receiver.received[0].headers["webhook-id"]
    for _type, headers, payload in announced:
        assert headers["ce_causationid"] == cause and headers["ce_correlationid"] == cause
        assert headers["ce_subject"] == "CCC20260Y4300000007"
        assert payload["delivery_id"] == webhook_id and payload["endpoint_id"] == endpoint["id"]
        assert payload["subscriber_uscc"] == subscriber
        assert "hooks.shop.example.com" not in json.dumps(payload) and endpoint["secret"] not in json.dumps(payload)
    assert announced[0][2]["failure"] == "HTTP 500" and announced[0][2]["attempts"] == 1
    assert announced[1][2]["attempts"] == 3 and announced[1][2]["status_code"] == 200


@pytest.mark.parametrize("settings", [{"delivery_retry_period_seconds": 0.001}], indirect=True)
async def test_a_delivery_failing_past_its_retry_period_is_given_up_and_the_next_goes(runtime: Runtime,
                                                                                     subscriber: str) -> None:
    holder, body = new_uscc(), new_uscc()
    await subscribe(runtime, subscriber, WatchKind.HOLDER, [holder])
    await happen(runtime, suspended("CCC20260Y4300000006", holder, body))
    await happen(runtime, withdrawn("CCC20260Y4300000006", holder, body))

    await service.send_due(runtime, Receiver(lambda r: 500).client())
    first, second = await deliveries(runtime)
    assert first.status == "given_up" and second.status == "pending"
    async with runtime.engine.connect() as conn:
        types = list((await conn.execute(sa.select(db.outbox.c.event_type))).scalars())
    assert types == ["notification.delivery_given_up.v1"]
    (_type, headers, given_up), = await published(runtime)
    assert given_up["last_error"] == "HTTP 500" and headers["ce_subject"] == given_up["endpoint_id"]

    receiver = Receiver()
    await service.send_due(runtime, receiver.client())
    assert [b["data"]["new_status"] for b in receiver.bodies()] == ["withdrawn"]

    replayed = await service.replay(runtime, platform(subscriber), [first.id])
    assert replayed == {"replayed": 1}
    await service.send_due(runtime, receiver.client())
    assert receiver.received[-1].headers["webhook-id"] == first.id


@pytest.mark.parametrize("settings", [{"endpoint_disable_after_seconds": 0, "endpoint_disable_after_failures": 3}],
                         indirect=True)
async def test_an_endpoint_that_keeps_failing_is_disabled_and_keeps_its_backlog(runtime: Runtime,
                                                                               subscriber: str) -> None:
    holder = new_uscc()
    endpoint = await subscribe(runtime, subscriber, WatchKind.HOLDER, [holder])
    for n in range(3):
        await happen(runtime, suspended(f"CCC20260Y430000001{n}", holder, new_uscc()))
    await service.send_due(runtime, Receiver(lambda r: 500).client())

    disabled = await service.get_endpoint(runtime, platform(subscriber), endpoint["id"])
    assert disabled["status"] == "disabled"
    assert "3 failed attempts in a row" in disabled["disabled_reason"] and "HTTP 500" in disabled["disabled_reason"]
    announced = {t: p for t, _h, p in await published(runtime)}
    assert announced["notification.endpoint_disabled.v2"]["consecutive_failures"] == 3
    assert "hooks.shop.example.com" not in json.dumps(announced)  # the stream never carries the URL
    await happen(runtime, suspended("CCC20260Y4300000020", holder, new_uscc()))  # still owed while disabled
    await make_due(runtime)
    receiver = Receiver()
    assert await service.send_due(runtime, receiver.client()) == 0

    await service.enable_endpoint(runtime, platform(subscriber), endpoint["id"])
    await service.send_due(runtime, receiver.client())
    assert len(receiver.received) == 4
    assert {d.status for d in await deliveries(runtime)} == {"delivered"}


async def test_a_rotated_secret_signs_beside_the_old_one(runtime: Runtime, subscriber: str) -> None:
    holder = new_uscc()
    endpoint = await subscribe(runtime, subscriber, WatchKind.HOLDER, [holder])
    rotated = await service.rotate_secret(runtime, platform(subscriber), endpoint["id"])
    await happen(runtime, suspended("CCC20260Y4300000030", holder, new_uscc()))
    receiver = Receiver()
    await service.send_due(runtime, receiver.client())

    request = receiver.received[0]
    assert rotated["secret"] != endpoint["secret"]
    Webhook(endpoint["secret"]).verify(request.content, dict(request.headers))
    Webhook(rotated["secret"]).verify(request.content, dict(request.headers))


async def test_two_senders_never_claim_the_same_delivery(runtime: Runtime, subscriber: str) -> None:
    holder = new_uscc()
    await subscribe(runtime, subscriber, WatchKind.HOLDER, [holder])
    for n in range(20):
        await happen(runtime, suspended(f"CCC20260Y43000001{n:02d}", holder, new_uscc()))
    now = runtime.clock.now()
    async with runtime.engine.begin() as conn:
        first = await db.claim(conn, now, 15, "a", now + dt.timedelta(minutes=1))
    async with runtime.engine.begin() as conn:
        second = await db.claim(conn, now, 15, "b", now + dt.timedelta(minutes=1))
    assert len(first) == 15 and len(second) == 5
    assert not {r.id for r in first} & {r.id for r in second}


async def test_the_client_refuses_a_loopback_address_outside_development() -> None:
    refused = sender.client(development=False, timeout=2, connections=2)
    outcome = await sender.post(refused, "http://127.0.0.1:9/hook", {}, "{}")
    assert not outcome.ok and "loopback_address" in (outcome.error or "")
    allowed = sender.client(development=True, timeout=2, connections=2)
    outcome = await sender.post(allowed, "http://127.0.0.1:9/hook", {}, "{}")
    assert not outcome.ok and "ConnectError" in (outcome.error or "")  # reached for, nothing listens there
    await refused.aclose()
    await allowed.aclose()


async def test_a_name_resolving_to_loopback_is_refused_after_resolution() -> None:
    guarded = sender.client(development=False, timeout=2, connections=2)
    outcome = await sender.post(guarded, "https://localhost:9/hook", {}, "{}")
    assert not outcome.ok and "resolves to" in (outcome.error or "") and "loopback_address" in (outcome.error or "")
    await guarded.aclose()


async def test_the_live_stream_sends_each_change_with_its_cursor_as_id(runtime: Runtime, subscriber: str) -> None:
    holder = new_uscc()
    await service.add_watches(runtime, platform(subscriber), WatchKind.HOLDER, [holder])
    await happen(runtime, suspended("CCC20260Y4300000040", holder, new_uscc()))
    stream = service.stream(runtime, platform(subscriber), None)
    assert (await anext(stream)).endswith(": connected\n\n")
    first = await anext(stream)
    await happen(runtime, withdrawn("CCC20260Y4300000040", holder, new_uscc()))
    second = await anext(stream)
    while second.startswith(":"):  # keep-alives while nothing new is recorded
        second = await anext(stream)
    await stream.aclose()

    lines = [dict(line.split(": ", 1) for line in event.strip().split("\n")) for event in (first, second)]
    assert [json.loads(e["data"])["data"]["new_status"] for e in lines] == ["suspended", "withdrawn"]
    assert [e["event"] for e in lines] == ["certificate.status_changed"] * 2
    resumed = service.stream(runtime, platform(subscriber), lines[0]["id"])  # Last-Event-ID
    await anext(resumed)
    assert json.loads(dict(line.split(": ", 1) for line in (await anext(resumed)).strip().split("\n"))["data"])[
        "data"]["new_status"] == "withdrawn"
    await resumed.aclose()


@pytest.mark.parametrize("settings", [{"outbox_retention_hours": 0.0001}], indirect=True)
async def test_finished_deliveries_are_pruned_after_the_retention_pending_ones_never(runtime: Runtime,
                                                                                    subscriber: str) -> None:
    from notifications import scheduler

    holder = new_uscc()
    await subscribe(runtime, subscriber, WatchKind.HOLDER, [holder])
    await happen(runtime, suspended("CCC20260Y4300000050", holder, new_uscc()))
    await service.send_due(runtime, Receiver().client())
    await happen(runtime, suspended("CCC20260Y4300000051", holder, new_uscc()))
    async with runtime.engine.begin() as conn:  # delivered a while ago
        await conn.execute(sa.update(db.deliveries).where(db.deliveries.c.status == "delivered")
                           .values(finished_at=runtime.clock.now() - dt.timedelta(hours=1)))

    assert await scheduler.prune_finished(runtime) == 1
    assert [d.certificate_number for d in await deliveries(runtime)] == ["CCC20260Y4300000051"]


async def test_each_endpoint_origin_has_its_own_pool() -> None:
    clients = sender.Clients(development=False, timeout=2, connections_per_endpoint=4)
    shop = clients.for_url("https://hooks.shop.example.com/conformity")
    assert clients.for_url("https://HOOKS.shop.example.com/other-path") is shop
    assert clients.for_url("https://hooks.shop.example.com:8443/conformity") is not shop
    assert clients.for_url("https://customs.example.org/hook") is not shop
    await clients.aclose()
