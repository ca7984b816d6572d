"""What can go wrong for an operator, said as what failed, where, and what to do about it.

The CLI prints these as one message and an exit code; never a traceback.
"""

from __future__ import annotations

START_PLATFORM = "start the platform with `make run`"


class OperatorError(Exception):
    """A failure the operator can act on; `exit_code` is what the CLI exits with."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BrokerUnreachable(OperatorError):
    exit_code = 3

    def __init__(self, bootstrap: str, detail: str = "") -> None:
        why = f" ({detail})" if detail else ""
        super().__init__(
            f"no Kafka broker at {bootstrap}{why}: {START_PLATFORM}, "
            "or point at another broker with --bootstrap-servers or CONFORMITY_KAFKA_BOOTSTRAP_SERVERS"
        )
        self.bootstrap = bootstrap


class ServiceUnreachable(OperatorError):
    exit_code = 3

    def __init__(self, service: str, url: str, detail: str = "") -> None:
        why = f" ({detail})" if detail else ""
        super().__init__(
            f"the {service} service does not answer at {url}{why}: {START_PLATFORM}, "
            f"or set CONFORMITY_{service.upper()}_URL"
        )
        self.service = service
        self.url = url


class NotFound(OperatorError):
    exit_code = 1
