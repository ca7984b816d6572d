"""Dead letters: the events a service could not take, kept with why, and put back on request.

A consumer that meets a known event type with an invalid body (or a handler that keeps
failing) publishes the record to `<service>.dlq` with its original bytes and headers plus
`dlq_error`, `dlq_consumer` and where it came from. Replaying republishes those bytes and
headers, untouched, to the consuming service's replay topic (`<service>.replay`), with where
they came from: the replay principal may write there and nowhere else, and the service takes
back only a record it dead-lettered itself, byte for byte, then handles it as if read from its
original topic; its inbox makes a second replay change nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from conformity_shared import topics
from conformity_operators import broker
from conformity_operators.errors import NotFound, OperatorError
from conformity_operators.events_view import EventView

SUFFIX = ".dlq"


@dataclass(frozen=True)
class DeadLetter:
    record: EventView

    @property
    def id(self) -> str:
        """The dead event's ce_id, or the dead letter's position when it had none."""
        return self.record.headers.get("ce_id") or self.record.position

    @property
    def consumer(self) -> str:
        return self.record.headers.get("dlq_consumer") or self.record.topic.removesuffix(SUFFIX)

    @property
    def error(self) -> str:
        return self.record.headers.get("dlq_error", "(no dlq_error header)")

    @property
    def original_topic(self) -> str | None:
        return self.record.headers.get("dlq_original_topic")

    @property
    def original_position(self) -> str:
        h = self.record.headers
        return f"{h.get('dlq_original_topic', '?')}:{h.get('dlq_original_partition', '?')}:{h.get('dlq_original_offset', '?')}"

    @property
    def dead_since(self) -> str:
        return self.record.headers.get("dlq_time", "")


async def dead_letter_topics(bootstrap: str, service: str | None = None) -> list[str]:
    if service:
        return [topics.dead_letters(service)]
    return sorted(t for t in await broker.existing_topics(bootstrap) if t.endswith(SUFFIX))


async def list_dead_letters(bootstrap: str, service: str | None = None) -> list[DeadLetter]:
    wanted = await dead_letter_topics(bootstrap, service)
    return [DeadLetter(r) for r in await broker.read_topics(bootstrap, wanted)]


def find(letters: Sequence[DeadLetter], ident: str) -> DeadLetter:
    """The dead letter named by its id, a prefix of it, or its position `certificates.dlq:0:12`."""
    exact = [d for d in letters if ident in (d.id, d.record.position)]
    matches = exact or [d for d in letters if len(ident) >= 6 and d.id.startswith(ident)]
    if not matches:
        raise NotFound(f"no dead letter {ident}: `conformity dlq list` shows them all")
    if len(matches) > 1:
        where = ", ".join(f"{d.record.position} ({d.consumer})" for d in matches)
        raise OperatorError(
            f"{ident} names {len(matches)} dead letters: {where}; choose one with --service or by its position"
        )
    return matches[0]


def _origin(letter: DeadLetter) -> list[tuple[str, bytes]]:
    """The dead letter's `dlq_original_*` headers: where the service will take the record back from."""
    wanted = ("dlq_original_topic", "dlq_original_partition", "dlq_original_offset")
    found = [(k, v) for k, v in letter.record.raw_headers if k in wanted]
    if len(found) != len(wanted):
        raise OperatorError(f"dead letter {letter.id} does not say where it came from: it cannot be replayed")
    return found


async def replay(bootstrap: str, letter: DeadLetter) -> tuple[str, int, int]:
    """Put the original bytes and headers on the consuming service's replay topic; where they landed."""
    topic = topics.replays(letter.consumer)
    partition, offset = await broker.republish(
        bootstrap, topic, letter.record.key, letter.record.value, [*letter.record.original_headers, *_origin(letter)]
    )
    return topic, partition, offset
