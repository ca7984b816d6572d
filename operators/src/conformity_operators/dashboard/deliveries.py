"""Webhook deliveries beneath the change that caused them, collapsed.

Notifications announce every delivery's outcome on `notifications.events`
(`notification.delivered.v1`, `notification.delivery_retrying.v1`, `notification.delivery_given_up.v1`),
each caused by (`ce_causationid`) the certificate event the webhook told of. A revoked body's cascade
suspends ten thousand certificates, each watched by several subscribers: tens of thousands of
outcomes that would drown the live stream and push the cascade itself out of the dashboard's
memory. So they are not kept as events: the ledger keeps one small entry per delivery (its
webhook-id), grouped by the event that caused it, and the cascade shows one summary per
suspension (delivered, retrying, given up) whose list is read page by page.

The newest status of a delivery wins by its rank, not by arrival (its events have different keys,
so they may be read out of order): retrying < given up < delivered (a replay may deliver a given-up
one). Nothing here names an endpoint's URL or secret: the events do not carry them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from conformity_operators.events_view import EventView

STATUS_OF_TYPE = {
    "notification.delivery_retrying.v1": "retrying",
    "notification.delivery_given_up.v1": "given_up",
    "notification.delivered.v1": "delivered",
}
RANK = {"retrying": 0, "given_up": 1, "delivered": 2}
STATUSES = tuple(RANK)


@dataclass(slots=True)
class Delivery:
    webhook_id: str
    status: str
    attempts: int
    endpoint_id: str
    subscriber_uscc: str
    certificate_number: str
    failure: str | None
    time: str

    def to_json(self) -> dict[str, Any]:
        return {"webhook_id": self.webhook_id, "status": self.status, "attempts": self.attempts,
                "endpoint_id": self.endpoint_id, "subscriber_uscc": self.subscriber_uscc,
                "certificate_number": self.certificate_number, "failure": self.failure, "time": self.time}


def is_delivery_outcome(view: EventView) -> bool:
    return view.type in STATUS_OF_TYPE and not view.problem and bool(view.causation_id)


class DeliveryLedger:
    """Deliveries by the event that caused them, in the order first read; bounded: past
    `max_deliveries` the causes read longest ago are forgotten whole."""

    def __init__(self, max_deliveries: int) -> None:
        self.max_deliveries = max_deliveries
        self._by_cause: dict[str, dict[str, Delivery]] = {}
        self._counts: dict[str, Counter[str]] = {}
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def add(self, view: EventView) -> bool:
        """Take a delivery outcome (False if `view` is not one: it is then an ordinary event)."""
        if not is_delivery_outcome(view):
            return False
        p = view.payload
        cause, status = str(view.causation_id), STATUS_OF_TYPE[view.type]
        webhook_id = str(p.get("delivery_id", view.id))
        entries = self._by_cause.setdefault(cause, {})
        counts = self._counts.setdefault(cause, Counter())
        known = entries.get(webhook_id)
        if known is not None:
            if RANK[status] < RANK[known.status]:
                return True  # an older outcome read late
            counts[known.status] -= 1
        else:
            self._size += 1
        entries[webhook_id] = Delivery(
            webhook_id, status, int(p.get("attempts", 0)), str(p.get("endpoint_id", "")),
            str(p.get("subscriber_uscc", "")), str(p.get("certificate_number", "")),
            p.get("failure") or p.get("last_error"), view.time.isoformat(),
        )
        counts[status] += 1
        self._trim()
        return True

    def _trim(self) -> None:
        while self._size > self.max_deliveries and len(self._by_cause) > 1:
            oldest = next(iter(self._by_cause))
            self._size -= len(self._by_cause.pop(oldest))
            self._counts.pop(oldest, None)

    def summary(self, cause: str) -> dict[str, int] | None:
        """How the deliveries `cause` owed stand: {total, delivered, retrying, given_up}; None if none."""
        counts = self._counts.get(cause)
        if not counts:
            return None
        return {"total": sum(counts.values()), **{s: counts[s] for s in STATUSES}}

    def page(self, cause: str, *, status: str | None = None, after: int = 0, limit: int = 100) -> dict[str, Any]:
        """One page of `cause`'s deliveries in the order first read; `after` is the position a
        previous page answered as `next_after`."""
        entries = list(self._by_cause.get(cause, {}).values())
        if status:
            entries = [e for e in entries if e.status == status]
        chosen = entries[after:after + limit]
        more = after + limit < len(entries)
        return {"cause": cause, "summary": self.summary(cause), "status": status,
                "deliveries": [e.to_json() for e in chosen], "next_after": after + limit if more else None}

