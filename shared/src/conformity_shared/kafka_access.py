"""How a platform process authenticates to Kafka: SASL/SCRAM as its own principal, over
plaintext on a trusted network or TLS (SASL_SSL) where the network is not.

One principal per service (its name), so that the broker's access rules let each write only
its own stream and dead-letter topic and read only what it consumes. The password comes from
a setting (a secret in production) or, in development and tests, from the local broker's
credentials file, which holds every local principal's password.
"""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCRAM_SHA_512 = "SCRAM-SHA-512"


@dataclass(frozen=True)
class KafkaAccess:
    """One principal's connection settings; `protocol` PLAINTEXT means no authentication at all."""

    protocol: str = "PLAINTEXT"
    username: str | None = None
    password: str | None = None
    mechanism: str = SCRAM_SHA_512
    cafile: Path | None = None

    @property
    def authenticated(self) -> bool:
        return self.protocol.startswith("SASL")

    def client_settings(self) -> dict[str, Any]:
        """aiokafka's keyword arguments (producers, consumers, admin clients)."""
        if not self.authenticated:
            return {}
        settings: dict[str, Any] = {
            "security_protocol": self.protocol, "sasl_mechanism": self.mechanism,
            "sasl_plain_username": self.username, "sasl_plain_password": self.password,
        }
        if self.protocol == "SASL_SSL":
            settings["ssl_context"] = ssl.create_default_context(cafile=str(self.cafile) if self.cafile else None)
        return settings

    def librdkafka_settings(self) -> dict[str, Any]:
        """The same access in librdkafka's setting names (confluent-kafka: the outbox relay's producer)."""
        if not self.authenticated:
            return {}
        settings: dict[str, Any] = {"security.protocol": self.protocol, "sasl.mechanisms": self.mechanism,
                                    "sasl.username": self.username, "sasl.password": self.password}
        if self.cafile:
            settings["ssl.ca.location"] = str(self.cafile)
        return settings

    def faststream_security(self) -> Any:
        """FastStream's security object for a KafkaBroker (None without authentication)."""
        if not self.authenticated:
            return None
        from faststream.security import SASLScram256, SASLScram512

        scram = SASLScram512 if self.mechanism == SCRAM_SHA_512 else SASLScram256
        context = ssl.create_default_context(cafile=str(self.cafile) if self.cafile else None)
        return scram(self.username or "", self.password or "", use_ssl=self.protocol == "SASL_SSL",
                     ssl_context=context if self.protocol == "SASL_SSL" else None)


def access_of(protocol: str, username: str, secret: Any, credentials_file: Path | None, mechanism: str,
              cafile: Path | None) -> KafkaAccess:
    """A principal's access from settings: its password from `secret` (a SecretStr), or else, on an
    authenticated protocol, from the local broker's credentials file (development and tests)."""
    password = secret.get_secret_value() if secret else None
    if password is None and credentials_file and protocol != "PLAINTEXT":
        password = password_from_file(credentials_file, username)
    return KafkaAccess(protocol, username, password, mechanism, cafile)


def password_from_file(path: Path, username: str) -> str:
    """A principal's password from a local broker's credentials file (development and tests)."""
    try:
        passwords = json.loads(path.read_text())["passwords"]
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"cannot read Kafka credentials from {path}: {exc}") from None
    if username not in passwords:
        raise ValueError(f"{path} holds no password for Kafka principal {username!r}")
    return str(passwords[username])


# Passwords made for development (compose's defaults, the local broker's) say so.
DEVELOPMENT_PASSWORD_PREFIX = "dev-"


class KafkaAccessRefused(RuntimeError):
    """The Kafka settings are unsafe outside development: the process refuses to start."""


def refuse_unsafe_access(access: KafkaAccess, *, credentials_file: Path | None, environment: str,
                         development: bool) -> None:
    """Raise KafkaAccessRefused, naming the settings, when a process outside development would
    connect without authentication, with a development password or from a local credentials file."""
    if development:
        return
    problems = []
    if not access.authenticated:
        problems.append("CONFORMITY_KAFKA_SECURITY_PROTOCOL=PLAINTEXT connects without authentication: "
                        "use SASL_SSL (or SASL_PLAINTEXT on a private network)")
    elif not access.password:
        problems.append("CONFORMITY_KAFKA_PASSWORD is not set")
    elif access.password.startswith(DEVELOPMENT_PASSWORD_PREFIX):
        problems.append(f"CONFORMITY_KAFKA_PASSWORD is a development password (it starts with "
                        f"{DEVELOPMENT_PASSWORD_PREFIX!r}): give principal {access.username!r} a secret of its own")
    if credentials_file is not None:
        problems.append("CONFORMITY_KAFKA_CREDENTIALS_FILE is the local broker's file, for development and tests only")
    if problems:
        raise KafkaAccessRefused(
            f"refusing to start with these Kafka settings while CONFORMITY_ENV={environment}: "
            + "; ".join(problems) + " (or set CONFORMITY_ENV=development on a development machine)"
        )
