"""One Kafka record as an operator reads it: its envelope, its payload, and one line of story.

Shared by the CLI (`conformity events tail`, `trace`, `dlq`) and the dashboard, so that both
tell the same story about the same event. Nothing here does I/O.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from conformity_shared.envelope import Envelope, MissingAttribute
from conformity_shared.events import CATALOGUE

DEAD_LETTER_HEADERS = (
    "dlq_error", "dlq_consumer", "dlq_original_topic", "dlq_original_partition", "dlq_original_offset", "dlq_time",
)

# Payload fields that name an organisation (a USCC): what `--org` and the search match.
ORGANISATION_FIELDS = ("organisation_uscc", "holder_uscc", "issuing_body_uscc", "lab_uscc", "target_uscc")
# Payload fields that name something an operator searches for, besides organisations.
IDENTIFIER_FIELDS = (
    "certificate_number", "certificate_numbers", "approval_id", "inspection_id", "spot_check_id",
    "verification_id", "reference_id", "reference_ids", "round_id",
)


@dataclass(frozen=True)
class EventView:
    """A decoded record. `problem` says what is wrong with it, if anything (it is still shown)."""

    topic: str
    partition: int
    offset: int
    key: str | None
    headers: Mapping[str, str]
    value: bytes
    envelope: Envelope | None
    payload: Any
    problem: str | None = None
    timestamp: dt.datetime | None = None  # the record's own time, used when ce_time is missing
    raw_headers: tuple[tuple[str, bytes], ...] = ()  # exactly as read, for a faithful replay

    @property
    def id(self) -> str:
        return self.envelope.id if self.envelope else self.headers.get("ce_id") or self.position

    @property
    def type(self) -> str:
        return self.envelope.type if self.envelope else self.headers.get("ce_type", "(no ce_type)")

    @property
    def subject(self) -> str:
        return (self.envelope.subject if self.envelope else self.headers.get("ce_subject", "")) or (self.key or "")

    @property
    def time(self) -> dt.datetime:
        if self.envelope and "ce_time" in self.headers:
            return self.envelope.time
        return self.timestamp or dt.datetime.fromtimestamp(0, dt.UTC)

    @property
    def correlation_id(self) -> str:
        return self.envelope.correlation_id if self.envelope else self.headers.get("ce_correlationid", self.id)

    @property
    def causation_id(self) -> str | None:
        return self.envelope.causation_id if self.envelope else self.headers.get("ce_causationid")

    @property
    def source(self) -> str:
        return self.envelope.source if self.envelope else self.headers.get("ce_source", "")

    @property
    def service(self) -> str:
        """The producing service: `/conformity/certificates` -> `certificates`."""
        if self.source.startswith("/conformity/"):
            return self.source.removeprefix("/conformity/")
        return self.source or self.topic.split(".")[0]

    @property
    def position(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"

    @property
    def is_dead_letter(self) -> bool:
        return "dlq_error" in self.headers

    @property
    def original_headers(self) -> list[tuple[str, bytes]]:
        """The headers as first published (a dead letter's own `dlq_*` headers left out)."""
        return [(k, v) for k, v in self.raw_headers if k not in DEAD_LETTER_HEADERS]


def decode(
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    headers: Iterable[tuple[str, bytes | None]] | None,
    timestamp_ms: int | None = None,
) -> EventView:
    """Decode one record; a record that breaks the contract is kept with its `problem`."""
    pairs = list(headers or ())
    decoded = {k: (v or b"").decode("utf-8", "replace") for k, v in pairs}
    value = value or b""
    problems: list[str] = []
    try:
        envelope: Envelope | None = Envelope.from_headers(pairs)
    except MissingAttribute as exc:
        envelope, problems = None, [str(exc)]
    try:
        payload: Any = json.loads(value) if value else None
    except ValueError:
        payload = None
        problems.append("the body is not JSON")
    model = CATALOGUE.get(envelope.type) if envelope else None
    if model is not None and payload is not None and not problems:
        try:
            model.model_validate(payload)
        except ValidationError as exc:
            problems.append(f"the body does not match {model.__name__}: {exc.error_count()} error(s)")
    stamp = dt.datetime.fromtimestamp(timestamp_ms / 1000, dt.UTC) if timestamp_ms is not None else None
    return EventView(
        topic=topic, partition=partition, offset=offset, key=key.decode("utf-8", "replace") if key else None,
        headers=decoded, value=value, envelope=envelope, payload=payload,
        problem="; ".join(problems) or None, timestamp=stamp, raw_headers=tuple((k, v or b"") for k, v in pairs),
    )


def from_record(record: Any) -> EventView:
    """From an aiokafka ConsumerRecord."""
    return decode(record.topic, record.partition, record.offset, record.key, record.value, record.headers, record.timestamp)


# --- the story ------------------------------------------------------------------------------


@dataclass
class OrganisationNames:
    """Names of organisations as the events told them (grants name bodies and labs, issuances holders)."""

    names: dict[str, str] = field(default_factory=dict)

    def learn(self, view: EventView) -> None:
        payload = view.payload if isinstance(view.payload, dict) else {}
        if payload.get("organisation_uscc") and payload.get("organisation_name"):
            self.names[str(payload["organisation_uscc"])] = str(payload["organisation_name"])
        if payload.get("holder_uscc") and payload.get("holder_name"):
            self.names[str(payload["holder_uscc"])] = str(payload["holder_name"])

    def label(self, uscc: str) -> str:
        name = self.names.get(uscc)
        return f"{uscc} ({name})" if name else uscc


def _short(text: Any, limit: int = 70) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _listed(value: Any) -> str:
    return ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)


def _credit(p: dict[str, Any]) -> str | None:
    return f"{p['previous']} → {p['current']}" if p.get("previous") and p.get("current") else None


def _assigned_value(p: dict[str, Any]) -> str | None:
    if p.get("assigned_value") is None:
        return None
    return f"{p['assigned_value']:g} ± {p.get('standard_uncertainty', 0):g} {p.get('unit', '')}".rstrip()


def _score(p: dict[str, Any]) -> str | None:
    return f"{p.get('score_kind', 'z')} = {p['score']:.2f}" if p.get("score") is not None else None


def _fact_entries(p: dict[str, Any], org: Any) -> list[tuple[str, Any]]:
    """(label, what) in reading order: `what` is a payload key (rendered by str), a (key, render)
    pair, or a function of the whole payload for facts made of several keys."""
    return [
        ("certificate", "certificate_number"), ("certificates", ("certificate_numbers", _listed)),
        ("holder", ("holder_uscc", org)),
        ("organisation", ("organisation_uscc",
                          lambda u: f"{u} ({p['organisation_name']})" if p.get("organisation_name") else org(u))),
        ("issuing body", ("issuing_body_uscc", org)), ("lab", ("lab_uscc", org)),
        ("target", ("target_uscc", lambda u: f"{org(u)} {p.get('target_kind', '')}".strip())),
        ("field", "field"), ("fields", ("fields", _listed)), ("removed", ("removed_fields", _listed)),
        ("path", "path"), ("product", ("product", _short)), ("credit", _credit),
        ("reason", ("reason", _short)), ("cause", ("cause", _short)), ("failure", "failure"),
        ("until", "suspended_until"), ("valid until", "valid_until"), ("spot check", "spot_check_id"),
        ("verification", "verification_id"), ("ref", "reference_id"), ("refs", ("reference_ids", _listed)),
        ("round", "round_id"), ("measurand", ("measurand", _short)), ("assigned value", _assigned_value),
        ("σ_pt", ("sigma_pt", lambda v: f"{v:g}")), ("participants", "participants"), ("score", _score),
        ("signal", "signal"), ("findings", ("findings", _short)), ("detail", ("detail", _short)),
    ]


def _fact(p: dict[str, Any], what: Any) -> str | None:
    if callable(what):
        return what(p)
    key, render = what if isinstance(what, tuple) else (what, str)
    return None if p.get(key) in (None, "", []) else render(p[key])


def facts(view: EventView, names: OrganisationNames | None = None) -> list[tuple[str, str]]:
    """The key facts of an event, in the order an operator reads them, as (label, text)."""
    p = view.payload if isinstance(view.payload, dict) else {}
    org = names.label if names else str
    found = ((label, _fact(p, what)) for label, what in _fact_entries(p, org))
    return [(label, text) for label, text in found if text is not None]


def summary(view: EventView, names: OrganisationNames | None = None) -> str:
    """One line of key facts: `certificate CN-… · holder 9111… (Kettle Works) · reason spot_check_failed`."""
    text = " · ".join(f"{label} {value}" for label, value in facts(view, names))
    if view.problem:
        text = f"⚠ {view.problem}" + (f" · {text}" if text else "")
    return text


def tone(view: EventView) -> str:
    """How the event reads for the regulator: `alarm`, `good`, `muted` or `info` (colours only)."""
    if view.problem:
        return "alarm"
    kind = view.type.split(".")[1] if view.type.count(".") >= 2 else view.type
    if kind == "credit_class_changed" and isinstance(view.payload, dict):
        before, after = str(view.payload.get("previous", "")), str(view.payload.get("current", ""))
        return "alarm" if after > before else "good"
    if kind == "lab_scored" and isinstance(view.payload, dict):
        return {"action": "alarm", "acceptable": "good"}.get(str(view.payload.get("signal")), "info")
    if any(word in kind for word in ("suspend", "suspension", "revoked", "failed", "breached", "withdrawn")):
        return "alarm"
    if any(word in kind for word in ("granted", "issued", "reinstated", "verified")):
        return "good"
    if any(word in kind for word in ("expired", "cancelled", "scope_reduced")):
        return "muted"
    return "info"


def organisations(view: EventView) -> set[str]:
    p = view.payload if isinstance(view.payload, dict) else {}
    return {str(p[k]).upper() for k in ORGANISATION_FIELDS if p.get(k)}


def identifiers(view: EventView) -> set[str]:
    """Everything this event can be found by: subject, key, organisations, certificate numbers, ids."""
    p = view.payload if isinstance(view.payload, dict) else {}
    found = {view.subject.upper(), (view.key or "").upper(), view.id.upper()} | organisations(view)
    for k in IDENTIFIER_FIELDS:
        value = p.get(k)
        for item in value if isinstance(value, list) else [value]:
            if item:
                found.add(str(item).upper())
    found.discard("")
    return found


def mentions(view: EventView, needle: str) -> bool:
    return needle.strip().upper() in identifiers(view)


@dataclass(frozen=True)
class EventFilter:
    """What `events tail` shows: every given criterion must hold. Types may be glob patterns."""

    types: tuple[str, ...] = ()
    subject: str | None = None
    org: str | None = None
    correlation_id: str | None = None

    def matches(self, view: EventView) -> bool:
        if self.types and not any(fnmatch.fnmatchcase(view.type, t) for t in self.types):
            return False
        if self.subject and view.subject != self.subject:
            return False
        if self.org and self.org.strip().upper() not in organisations(view) | {view.subject.upper()}:
            return False
        return not self.correlation_id or view.correlation_id == self.correlation_id


def as_json(view: EventView) -> dict[str, Any]:
    """For machines (`--json`): where it was read, every header, and the payload."""
    body: dict[str, Any] = {
        "topic": view.topic,
        "partition": view.partition,
        "offset": view.offset,
        "key": view.key,
        "headers": dict(view.headers),
        "payload": view.payload if view.payload is not None else view.value.decode("utf-8", "replace"),
    }
    if view.problem:
        body["problem"] = view.problem
    return body


def format_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def format_delay(delta: dt.timedelta | None) -> str:
    """`+142 ms`, `+3.2 s`, `+5 min 2 s`: the time between two steps of a cascade."""
    if delta is None:
        return ""
    ms = delta.total_seconds() * 1000
    sign = "-" if ms < 0 else "+"
    ms = abs(ms)
    if ms < 1000:
        return f"{sign}{ms:.0f} ms"
    if ms < 60_000:
        return f"{sign}{ms / 1000:.1f} s"
    minutes, seconds = divmod(int(ms / 1000), 60)
    if minutes < 120:
        return f"{sign}{minutes} min {seconds} s"
    return f"{sign}{minutes / 60:.1f} h"


def to_dashboard(view: EventView, names: OrganisationNames | None = None) -> dict[str, Any]:
    """What the dashboard's page receives for one event."""
    return {
        "id": view.id,
        "type": view.type,
        "subject": view.subject,
        "time": view.time.isoformat(),
        "service": view.service,
        "topic": view.topic,
        "position": view.position,
        "correlation_id": view.correlation_id,
        "causation_id": view.causation_id,
        "summary": summary(view, names),
        "tone": tone(view),
        "payload": view.payload,
    }
