"""Topic names and who may use them: one stream per producing service, keyed by aggregate id.

This is the contract the broker's access rules are made from (`conformity_operators.kafka_access`):
each service writes only its own stream and its own dead-letter topic, and reads only the
streams it consumes plus its own replay topic.
"""

from __future__ import annotations

APPROVAL = "approval.events"
CERTIFICATES = "certificates.events"
SUPERVISION = "supervision.events"
PROFICIENCY = "proficiency.events"
NOTIFICATIONS = "notifications.events"

ALL = (APPROVAL, CERTIFICATES, SUPERVISION, PROFICIENCY, NOTIFICATIONS)

# The service that publishes each stream: the only one allowed to write it, and the `ce_source`
# (`/conformity/<service>`) every event on it carries.
OWNERS: dict[str, str] = {APPROVAL: "approval", CERTIFICATES: "certificates", SUPERVISION: "supervision",
                          PROFICIENCY: "proficiency", NOTIFICATIONS: "notifications"}

# The streams each service consumes (its consumer group is its own name).
CONSUMES: dict[str, tuple[str, ...]] = {
    "approval": (SUPERVISION, PROFICIENCY),
    "certificates": (APPROVAL, SUPERVISION),
    "supervision": (APPROVAL, CERTIFICATES, PROFICIENCY),
    "proficiency": (),
    # Watched certificates' status changes, and the bodies' standing they are issued under.
    "notifications": (CERTIFICATES, APPROVAL),
}


def dead_letters(service: str) -> str:
    """The dead-letter topic of one consuming service (`certificates.dlq`)."""
    return f"{service}.dlq"


def replays(service: str) -> str:
    """Where an operator puts a dead letter back for `service` to try again (`certificates.replay`).

    Not the original stream: the replaying principal may write only here, and the service takes
    from here only records it dead-lettered itself, byte for byte.
    """
    return f"{service}.replay"


def source_of(service: str) -> str:
    """The CloudEvents `ce_source` of a service's events."""
    return f"/conformity/{service}"


def owner_of(topic: str) -> str | None:
    """The service that publishes `topic`, if it is a platform stream."""
    return OWNERS.get(topic)


def every_topic() -> list[str]:
    """Every topic the platform uses: the streams, and each consuming service's dead letters and replays."""
    services = sorted(CONSUMES)
    return [*ALL, *(dead_letters(s) for s in services), *(replays(s) for s in services)]
