"""Topic names: one stream per producing service, keyed by aggregate id."""

APPROVAL = "approval.events"
CERTIFICATES = "certificates.events"
SUPERVISION = "supervision.events"
PROFICIENCY = "proficiency.events"

ALL = (APPROVAL, CERTIFICATES, SUPERVISION, PROFICIENCY)


def dead_letters(service: str) -> str:
    """The dead-letter topic of one consuming service (`certificates.dlq`)."""
    return f"{service}.dlq"
