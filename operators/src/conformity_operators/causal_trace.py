"""The causal tree of a request: which event caused which, across services, with timings.

Every event carries `ce_correlationid` (the request that started the chain) and
`ce_causationid` (the event, or request, just before it). The events of one correlation id
form a tree whose root is the request: an event caused by the request (its causation id is
the correlation id) hangs from the root; any other hangs from the event that caused it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from conformity_operators.events_view import EventView, OrganisationNames, format_delay, summary, tone

MIN_PREFIX = 8  # an id may be given by its first characters, as with git commits


@dataclass
class TraceNode:
    event: EventView
    since_cause: dt.timedelta | None  # None for a step whose cause has no known time (the request)
    children: list[TraceNode] = field(default_factory=list)
    dead_letters: list[EventView] = field(default_factory=list)  # where a consumer gave up on this event
    cause_missing: bool = False  # its causation id names an event not found on the topics

    def walk(self) -> Iterator[TraceNode]:
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass
class Trace:
    correlation_id: str
    roots: list[TraceNode]
    focus: str | None = None  # the event id the operator asked about, if it was an event id

    def nodes(self) -> Iterator[TraceNode]:
        for root in self.roots:
            yield from root.walk()

    @property
    def size(self) -> int:
        return sum(1 for _ in self.nodes())

    @property
    def started(self) -> dt.datetime | None:
        return min((n.event.time for n in self.nodes()), default=None)

    @property
    def duration(self) -> dt.timedelta:
        times = [n.event.time for n in self.nodes()]
        return max(times) - min(times) if times else dt.timedelta(0)

    def to_json(self, names: OrganisationNames | None = None,
                deliveries: Callable[[str], dict[str, int] | None] | None = None) -> dict[str, Any]:
        """The tree for the page and `--json`; `deliveries(event_id)`, when given, summarises the
        webhooks an event caused (the dashboard's ledger), shown on its node, and added up."""
        found: list[dict[str, int]] = []

        def delivered(n: TraceNode) -> dict[str, int] | None:
            summary_ = deliveries(n.event.id) if deliveries else None
            if summary_:
                found.append(summary_)
            return summary_

        def node(n: TraceNode) -> dict[str, Any]:
            return {
                "id": n.event.id,
                "type": n.event.type,
                "service": n.event.service,
                "subject": n.event.subject,
                "time": n.event.time.isoformat(),
                "since_cause_ms": round(n.since_cause.total_seconds() * 1000, 1) if n.since_cause is not None else None,
                "since_cause": format_delay(n.since_cause),
                "summary": summary(n.event, names),
                "tone": tone(n.event),
                "cause_missing": n.cause_missing,
                "dead_letters": [
                    {"consumer": d.headers.get("dlq_consumer"), "error": d.headers.get("dlq_error"), "position": d.position}
                    for d in n.dead_letters
                ],
                "deliveries": delivered(n),
                "children": [node(c) for c in n.children],
            }

        roots = [node(r) for r in self.roots]
        return {
            "correlation_id": self.correlation_id,
            "focus": self.focus,
            "events": self.size,
            "duration_ms": round(self.duration.total_seconds() * 1000, 1),
            "started": self.started.isoformat() if self.started else None,
            "deliveries": _added_up(found),
            "roots": roots,
        }


def _added_up(summaries: list[dict[str, int]]) -> dict[str, int] | None:
    if not summaries:
        return None
    return {key: sum(s.get(key, 0) for s in summaries) for key in summaries[0]}


def find_correlation(events: Iterable[EventView], ident: str) -> tuple[str, str | None] | None:
    """The correlation id that `ident` names, and the event id if it named an event.

    `ident` is a correlation id, an event id, or an unambiguous prefix of either.
    """
    ident = ident.strip()
    listed = [e for e in events if not e.is_dead_letter]
    for e in listed:
        if e.correlation_id == ident:
            return ident, None
    for e in listed:
        if e.id == ident:
            return e.correlation_id, e.id
    if len(ident) >= MIN_PREFIX:
        correlations = {e.correlation_id for e in listed if e.correlation_id.startswith(ident)}
        if len(correlations) == 1:
            return correlations.pop(), None
        matching = {e.id: e for e in listed if e.id.startswith(ident)}
        if len(matching) == 1:
            event = next(iter(matching.values()))
            return event.correlation_id, event.id
    return None


def build_trace(events: Iterable[EventView], correlation_id: str, focus: str | None = None) -> Trace:
    """The tree of the events of one correlation id (each event once, even if delivered twice)."""
    chain: dict[str, EventView] = {}
    dead: dict[str, list[EventView]] = {}
    for e in events:
        if e.correlation_id != correlation_id:
            continue
        if e.is_dead_letter:
            dead.setdefault(e.id, []).append(e)
        else:
            chain.setdefault(e.id, e)
    ordered = sorted(chain.values(), key=lambda e: (e.time, e.topic, e.partition, e.offset))
    nodes = {e.id: TraceNode(e, None, dead_letters=dead.get(e.id, [])) for e in ordered}
    roots: list[TraceNode] = []
    first = ordered[0].time if ordered else None
    for e in ordered:
        node = nodes[e.id]
        cause = e.causation_id
        parent = nodes.get(cause) if cause and cause != e.id else None
        if parent is not None and not _is_descendant(parent, node):
            node.since_cause = e.time - parent.event.time
            parent.children.append(node)
        else:
            # Caused by the request itself (or by something no longer on the topics): the time
            # is counted from the first event of the chain, the nearest known to the request.
            node.cause_missing = bool(cause) and cause != correlation_id and cause not in nodes
            node.since_cause = e.time - first if first else None
            roots.append(node)
    return Trace(correlation_id, roots, focus)


def _is_descendant(candidate: TraceNode, of: TraceNode) -> bool:
    return any(n is candidate for n in of.walk())


def trace(events: list[EventView], ident: str) -> Trace | None:
    """The causal tree that `ident` (a correlation id or an event id) belongs to, or None."""
    found = find_correlation(events, ident)
    if found is None:
        return None
    correlation_id, focus = found
    return build_trace(events, correlation_id, focus)
