"""CloudEvents 1.0 in Kafka's binary mode: attributes in `ce_*` headers, body = event JSON.

Besides the CloudEvents attributes every event carries `ce_correlationid` (the request
that started the chain) and `ce_causationid` (the event, or request, just before it).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from conformity_shared.events import Event

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"

# How the outbox keeps an event's headers until the relay sends them: names and values as
# UTF-8, separated by single NUL bytes (b"ce_specversion\01.0\0ce_id\0<id>..."), built once
# when the event is written. CloudEvents forbids control characters in attribute values (spec
# 1.0, "Type System": U+0000-U+001F), so a NUL never occurs inside a name or a value, and the
# relay gets the pairs back with one `bytes.split`, in C, instead of parsing JSON per row.
_SEPARATOR = "\0"


class InvalidHeader(ValueError):
    """A header name or value holds a NUL character, which CloudEvents attributes may not."""


def encode_headers(pairs: Iterable[tuple[str, str | bytes] | list[str]]) -> bytes:
    """The outbox's stored form of `pairs` (names and values, text or UTF-8 bytes)."""
    items = [v.decode() if isinstance(v, bytes) else v for pair in pairs for v in pair]
    text = _SEPARATOR.join(items)
    if text.count(_SEPARATOR) != max(len(items) - 1, 0):
        raise InvalidHeader("an event header holds a NUL character, which CloudEvents forbids in attributes")
    return text.encode()


def decode_headers(stored: bytes) -> list[tuple[str, bytes]]:
    """The (name, value) pairs a producer sends, from the outbox's stored form."""
    if not stored:
        return []
    parts = bytes(stored).split(b"\0")
    if len(parts) % 2:
        raise InvalidHeader(f"stored headers hold {len(parts)} fields, not name and value pairs")
    return list(zip(map(bytes.decode, parts[::2]), parts[1::2], strict=True))


def new_event_id() -> str:
    """A random (version 4) UUID as text, the form `str(uuid.uuid4())` gives, from the same 16
    random bytes of the operating system, without building a `uuid.UUID` on the way: a revoked
    body's hundred thousand events spent 0.7 s in `uuid4` (BENCHMARKS.md, "Third round")."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


_VARIANT = "89ab"  # RFC 4122's variant: the top two bits of the clock sequence are 10


_correlation: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation", default=None)
_causation: contextvars.ContextVar[str | None] = contextvars.ContextVar("causation", default=None)


class MissingAttribute(ValueError):
    pass


@contextmanager
def causal_context(correlation_id: str, causation_id: str | None) -> Iterator[None]:
    """Events emitted inside inherit this correlation id and are caused by `causation_id`."""
    tokens = (_correlation.set(correlation_id), _causation.set(causation_id))
    try:
        yield
    finally:
        _correlation.reset(tokens[0])
        _causation.reset(tokens[1])


def current_correlation_id() -> str | None:
    return _correlation.get()


@dataclass(frozen=True, slots=True)
class Envelope:
    id: str
    type: str
    source: str
    subject: str
    time: dt.datetime
    correlation_id: str
    causation_id: str | None

    @classmethod
    def for_event(cls, event: Event, source: str, at: dt.datetime | None = None) -> Envelope:
        event_id = new_event_id()
        return cls(
            id=event_id,
            type=event.ce_type,
            source=source,
            subject=event.subject(),
            time=at or dt.datetime.now(dt.UTC),
            # An event emitted outside any request or event starts a chain of its own.
            correlation_id=_correlation.get() or event_id,
            causation_id=_causation.get(),
        )

    def headers(self) -> list[tuple[str, bytes]]:
        return [(k, v.encode()) for k, v in self.header_pairs()]

    def header_bytes(self) -> bytes:
        """The headers as the outbox keeps them until the relay sends them (`encode_headers`)."""
        return encode_headers(self.header_pairs())

    def header_pairs(self) -> list[list[str]]:
        """The headers as [name, text] pairs."""
        pairs = [
            ["ce_specversion", SPEC_VERSION],
            ["ce_id", self.id],
            ["ce_source", self.source],
            ["ce_type", self.type],
            ["ce_time", self.time.isoformat().replace("+00:00", "Z")],
            ["ce_subject", self.subject],
            ["ce_correlationid", self.correlation_id],
            ["content-type", CONTENT_TYPE],
        ]
        if self.causation_id:
            pairs.append(["ce_causationid", self.causation_id])
        return pairs

    @classmethod
    def from_headers(cls, headers: Iterable[tuple[str, bytes | None]]) -> Envelope:
        found = {k: (v or b"").decode("utf-8", "replace") for k, v in headers}
        missing = [k for k in ("ce_id", "ce_type", "ce_source") if not found.get(k)]
        if missing:
            raise MissingAttribute(f"missing CloudEvents header(s): {', '.join(missing)}")
        raw_time = found.get("ce_time")
        try:
            time = dt.datetime.fromisoformat(raw_time.replace("Z", "+00:00")) if raw_time else dt.datetime.now(dt.UTC)
        except ValueError:
            raise MissingAttribute(f"ce_time is not RFC 3339: {raw_time!r}") from None
        return cls(
            id=found["ce_id"],
            type=found["ce_type"],
            source=found["ce_source"],
            subject=found.get("ce_subject", ""),
            time=time,
            correlation_id=found.get("ce_correlationid") or found["ce_id"],
            causation_id=found.get("ce_causationid"),
        )
