"""The dashboard's memory: the newest events, counts per type, and what the page asks of them.

Bounded and in memory: the topics are the record, and the dashboard re-reads them from the
beginning at every start. Two small inverted indexes (identifier -> events, correlation id
-> events) answer the history search and the cascade without scanning every kept event.
Webhook delivery outcomes are not kept as events but in a ledger beside them, collapsed beneath
the event that caused them (dashboard.deliveries).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from conformity_operators.events_view import EventView, OrganisationNames, identifiers, to_dashboard
from conformity_operators.causal_trace import Trace, build_trace, trace
from conformity_operators.dashboard.deliveries import DeliveryLedger


# What a viewer may see of an event (dashboard.visibility): the event itself, or a redacted copy.
Lens = Callable[[EventView], EventView]


def unchanged(view: EventView) -> EventView:
    return view


class EventIndex:
    def __init__(self, max_events: int, max_deliveries: int = 200_000) -> None:
        self.max_events = max_events
        self.deliveries = DeliveryLedger(max_deliveries)
        self.counts: Counter[str] = Counter()  # every event read since start, evicted ones included
        self.names = OrganisationNames()
        self._events: list[EventView] = []
        self._first_seq = 1  # sequence number of self._events[0]; numbers are contiguous
        self._next: dict[tuple[str, int], int] = {}  # next offset expected per partition
        self._by_identifier: dict[str, deque[int]] = {}
        self._by_correlation: dict[str, deque[int]] = {}
        self._changed = asyncio.Event()

    @property
    def last_seq(self) -> int:
        return self._first_seq + len(self._events) - 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def add(self, view: EventView) -> bool:
        """Keep one record; False if it was read before (a rebalance re-reads from the beginning)."""
        where = (view.topic, view.partition)
        if view.offset < self._next.get(where, 0):
            return False
        self._next[where] = view.offset + 1
        if self.deliveries.add(view):  # a webhook's outcome: counted, collapsed beneath its cause
            self.counts[view.type] += 1
            return True
        self._events.append(view)
        seq = self.last_seq
        for key in identifiers(view):
            self._by_identifier.setdefault(key, deque()).append(seq)
        self._by_correlation.setdefault(view.correlation_id, deque()).append(seq)
        self.counts[view.type] += 1
        self.names.learn(view)
        excess = len(self._events) - self.max_events
        if excess > max(1, self.max_events // 10):  # trim in steps, not one element at a time
            self._evict(excess)
        self._changed.set()
        self._changed = asyncio.Event()
        return True

    def _evict(self, count: int) -> None:
        gone, self._events = self._events[:count], self._events[count:]
        self._first_seq += count
        for view in gone:
            for key in identifiers(view):
                self._forget(self._by_identifier, key)
            self._forget(self._by_correlation, view.correlation_id)

    def _forget(self, index: dict[str, deque[int]], key: str) -> None:
        # Sequence numbers are appended in order, so the evicted ones are at the front.
        seqs = index.get(key)
        while seqs and seqs[0] < self._first_seq:
            seqs.popleft()
        if seqs is not None and not seqs:
            del index[key]

    def _view(self, seq: int) -> EventView:
        return self._events[seq - self._first_seq]

    def since(self, seq: int, limit: int = 500) -> list[tuple[int, EventView]]:
        """Events numbered after `seq` (the oldest kept ones if `seq` was evicted), oldest first."""
        start = max(seq + 1 - self._first_seq, 0)
        return [(self._first_seq + i, self._events[i]) for i in range(start, min(start + limit, len(self._events)))]

    async def wait(self, timeout: float) -> None:
        """Return when an event arrives, or after `timeout` seconds."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)

    def describe(self, seq: int, view: EventView, lens: Lens = unchanged) -> dict[str, Any]:
        return {"seq": seq, **to_dashboard(lens(view), self.names)}

    def search(self, query: str, limit: int = 500, lens: Lens = unchanged) -> list[dict[str, Any]]:
        """The history of a certificate number, an organisation (USCC) or an id, across services, oldest first."""
        seqs = self._by_identifier.get(query.strip().upper(), ())
        found = sorted(((seq, self._view(seq)) for seq in seqs), key=lambda item: item[1].time)
        return [self.describe(seq, view, lens) for seq, view in found[-limit:]]

    def trace(self, ident: str, lens: Lens = unchanged) -> Trace | None:
        ident = ident.strip()
        if ident in self._by_correlation:
            return build_trace([lens(self._view(s)) for s in self._by_correlation[ident]], ident)
        seqs = self._by_identifier.get(ident.upper(), ())
        for seq in seqs:  # an event id: the chain it belongs to, with the event marked
            view = self._view(seq)
            if view.id == ident:
                chain = [lens(self._view(s)) for s in self._by_correlation.get(view.correlation_id, ())]
                return build_trace(chain, view.correlation_id, focus=view.id)
        return trace([lens(v) for v in self._events], ident)  # a prefix: the slow path, scanning what is kept
