"""The messaging contract of every service, in one import: unit of work, outbox relay,
idempotent consumer. See `unit_of_work`, `outbox`, `publisher_lease` and `inbox` for each part.

- A use case opens a `UnitOfWork`, changes state and `emit`s events; `commit` writes the state
  change and the outbox rows in one database transaction, then wakes the relay.
- The `OutboxRelay` of the one replica holding the publisher lease publishes unpublished rows in
  order through an idempotent producer and marks them published; a crash in between publishes
  them again (consumers de-duplicate).
- The `EventConsumer` runs each handler in a unit of work that also records the event id in the
  inbox: a redelivered event changes nothing. The offset is committed only after that commit.
"""

from conformity_shared.dead_letters import DeadLetters, FailureLog
from conformity_shared.inbox import TRANSIENT, EventConsumer
from conformity_shared.outbox import RELAY_LINGER_MS, OutboxRelay, collector_paused
from conformity_shared.unit_of_work import Handler, UnitOfWork

__all__ = [
    "RELAY_LINGER_MS",
    "DeadLetters",
    "TRANSIENT",
    "EventConsumer",
    "FailureLog",
    "Handler",
    "OutboxRelay",
    "UnitOfWork",
    "collector_paused",
]
