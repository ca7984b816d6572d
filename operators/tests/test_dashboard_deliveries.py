"""Webhook deliveries on the dashboard: collapsed beneath the suspension that caused them, with
a summary per suspension and a paged list, kept apart from the events. No broker."""

from __future__ import annotations

import datetime as dt
import uuid

from conformity_devstack.factories import new_uscc
from conformity_operators.dashboard.index import EventIndex
from conformity_operators.dashboard.visibility import as_operator_sees, lens_of
from conformity_operators.events_view import decode
from conformity_shared import events
from conformity_shared.auth import Role
from conformity_shared.envelope import Envelope, causal_context

SUBSCRIBERS = [new_uscc() for _ in range(3)]
ENDPOINTS = [str(uuid.uuid4()) for _ in range(3)]


class Partition:
    """Records of one partition of notifications.events, numbered as the broker would."""

    def __init__(self, number: int) -> None:
        self.number, self.offset = number, 0

    def record(self, event: events.Event, correlation_id: str, cause: str):  # noqa: ANN201
        with causal_context(correlation_id, cause):
            envelope = Envelope.for_event(event, "/conformity/notifications")
        self.offset += 1
        return decode(event.topic, self.number, self.offset, envelope.subject.encode(),
                      event.model_dump_json().encode(), envelope.headers())


def outcome(kind: str, n: int, number: str, webhook_id: str, attempts: int = 1) -> events.Event:
    who = {"endpoint_id": ENDPOINTS[n], "subscriber_uscc": SUBSCRIBERS[n], "delivery_id": webhook_id,
           "certificate_number": number, "attempts": attempts}
    if kind == "delivered":
        return events.DeliveredV1(**who, status_code=204)
    if kind == "retrying":
        return events.DeliveryRetryingV1(**who, failure="HTTP 500", next_attempt_at=dt.datetime.now(dt.UTC))
    return events.DeliveryGivenUpV1(**who, last_error="ConnectError")


def cascade(new_chain):  # noqa: ANN001, ANN201
    """The spot check's chain on its partitions, as the dashboard reads it."""
    chain, pairs = new_chain()
    views = [decode(e.topic, 0, i, env.subject.encode(), e.model_dump_json().encode(), env.headers())
             for i, (env, e) in enumerate(pairs)]
    return chain, views


def test_deliveries_are_collapsed_beneath_the_suspension_that_caused_them(new_chain) -> None:
    chain, views = cascade(new_chain)
    index = EventIndex(max_events=100)
    for view in views:
        index.add(view)
    part = Partition(7)
    webhook_ids = [str(uuid.uuid4()) for _ in range(3)]
    records = [
        part.record(outcome("retrying", 0, chain.number, webhook_ids[0]), chain.correlation_id, chain.suspension.id),
        part.record(outcome("delivered", 1, chain.number, webhook_ids[1]), chain.correlation_id, chain.suspension.id),
        part.record(outcome("retrying", 2, chain.number, webhook_ids[2]), chain.correlation_id, chain.suspension.id),
        part.record(outcome("delivered", 0, chain.number, webhook_ids[0], 3), chain.correlation_id, chain.suspension.id),
        part.record(outcome("given_up", 2, chain.number, webhook_ids[2], 40), chain.correlation_id, chain.suspension.id),
    ]
    for record in records:
        assert index.add(record)
    assert not index.add(records[0])  # read again after a rebalance: nothing changes

    # not kept as events: the stream and the cascade's nodes stay the three events of the chain
    assert len(index.since(0, 1000)) == 3
    assert index.counts["notification.delivered.v1"] == 2 and index.total == 8
    tree = index.trace(chain.correlation_id).to_json(index.names, index.deliveries.summary)
    assert tree["events"] == 3
    spot = next(r for r in tree["roots"] if r["type"] == "supervision.spot_check_failed.v1")
    suspension = spot["children"][0]
    assert suspension["type"] == "certificate.suspended.v1"
    assert suspension["deliveries"] == {"total": 3, "delivered": 2, "retrying": 0, "given_up": 1}
    assert spot["deliveries"] is None
    assert tree["deliveries"] == suspension["deliveries"]

    listed = index.deliveries.page(chain.suspension.id)
    assert [d["webhook_id"] for d in listed["deliveries"]] == webhook_ids  # the order first read
    first = listed["deliveries"][0]
    assert (first["status"], first["attempts"], first["subscriber_uscc"]) == ("delivered", 3, SUBSCRIBERS[0])
    assert listed["deliveries"][2]["failure"] == "ConnectError"
    assert [d["webhook_id"] for d in index.deliveries.page(chain.suspension.id, status="given_up")["deliveries"]] \
        == [webhook_ids[2]]


def test_an_outcome_read_before_an_earlier_one_is_not_undone() -> None:
    index, part, cause, webhook_id = EventIndex(100), Partition(0), str(uuid.uuid4()), str(uuid.uuid4())
    index.add(part.record(outcome("delivered", 0, "CCC2026X", webhook_id, 2), cause, cause))
    index.add(part.record(outcome("retrying", 0, "CCC2026X", webhook_id), cause, cause))  # another partition's, late
    assert index.deliveries.summary(cause) == {"total": 1, "delivered": 1, "retrying": 0, "given_up": 0}


def test_ten_thousand_deliveries_are_one_summary_read_page_by_page() -> None:
    index, part, correlation = EventIndex(max_events=100), Partition(0), str(uuid.uuid4())
    suspensions = [str(uuid.uuid4()) for _ in range(10)]
    for n in range(10_000):
        cause = suspensions[n % 10]
        kind = "retrying" if (n // 10) % 100 == 0 else "delivered"  # 1% of each suspension's
        index.add(part.record(outcome(kind, n % 3, f"CCC2026{n:08d}", str(uuid.uuid4())), correlation, cause))
    assert len(index.since(0, 1000)) == 0  # the events' memory is untouched
    assert index.deliveries.summary(suspensions[0]) == {"total": 1000, "delivered": 990, "retrying": 10, "given_up": 0}
    seen, after = [], 0
    while after is not None:
        page = index.deliveries.page(suspensions[0], after=after, limit=300)
        seen += page["deliveries"]
        after = page["next_after"]
    assert len(seen) == 1000 and len({d["webhook_id"] for d in seen}) == 1000


def test_the_ledger_forgets_the_oldest_causes_past_its_bound() -> None:
    index, part = EventIndex(max_events=100, max_deliveries=50), Partition(0)
    causes = [str(uuid.uuid4()) for _ in range(4)]
    for cause in causes:
        for n in range(20):
            index.add(part.record(outcome("delivered", 0, f"CCC2026{n:08d}", str(uuid.uuid4())), cause, cause))
    assert len(index.deliveries) <= 50
    assert index.deliveries.summary(causes[0]) is None and index.deliveries.summary(causes[-1])["total"] == 20


def test_nobody_on_the_dashboard_reads_a_subscribers_url() -> None:
    part = Partition(0)
    old = part.record(events.EndpointDisabledV1(endpoint_id=ENDPOINTS[0], subscriber_uscc=SUBSCRIBERS[0],
                                                url="https://user:pw@hooks.shop.example.com/x",
                                                reason="50 failures; last: ConnectError to hooks.shop.example.com",
                                                consecutive_failures=50), "c", "c")
    for seen in (lens_of(Role.REGULATOR)(old), as_operator_sees(old)):
        assert "hooks.shop.example.com" not in str(seen.payload) and b"hooks.shop" not in seen.value
        assert seen.payload["consecutive_failures"] == 50
