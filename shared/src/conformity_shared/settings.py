"""Settings every service has; each service extends `ServiceSettings` in its own settings.py.

All are read from `CONFORMITY_*` variables."""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from conformity_shared.clock import REGULATOR_TIME_ZONE, Clock, time_zone
from conformity_shared.kafka_access import SCRAM_SHA_512, KafkaAccess, access_of, refuse_unsafe_access


# --- identity: who issues the tokens every app verifies -----------------------------


class Environment(StrEnum):
    PRODUCTION = "production"
    # `make run`, the stack, compose's development variant and the tests: development keys,
    # inline key sets and plain-HTTP issuers are accepted only here.
    DEVELOPMENT = "development"


# The development issuer `make run` starts (conformity_devstack.identity), the issuer in development.
DEVELOPMENT_ISSUER = "http://127.0.0.1:8009"
PLATFORM_AUDIENCE = "conformity-platform"


class IdentitySettings(BaseSettings):
    """The OpenID Connect issuer whose tokens are accepted, and how its keys are found."""

    model_config = SettingsConfigDict(env_prefix="CONFORMITY_", extra="ignore")

    env: Environment = Environment.PRODUCTION
    oidc_issuer: str | None = Field(
        default=None, description="the issuer's URL, as in the tokens' iss claim; in development the "
        "development issuer's when unset")
    oidc_audience: str = PLATFORM_AUDIENCE
    oidc_jwks_url: str | None = Field(default=None, description="default: jwks_uri of the issuer's discovery document")
    oidc_jwks: str | None = Field(default=None, description="an inline JWKS (JSON): development and tests only")
    oidc_leeway_seconds: float = Field(default=30, ge=0, le=300)
    # Unknown key ids refresh the keys at most once per this many seconds, so that a flood of
    # tokens naming random kids cannot make the service hammer the issuer.
    oidc_jwks_min_refresh_seconds: float = Field(default=30, ge=0)
    oidc_jwks_max_age_seconds: float = Field(default=3600, gt=0)  # keys are re-read this often regardless

    @property
    def development(self) -> bool:
        return self.env is Environment.DEVELOPMENT

    def issuer(self) -> str | None:
        if self.oidc_issuer:
            return self.oidc_issuer  # exactly as the tokens say it (some issuers end in "/")
        return DEVELOPMENT_ISSUER if self.development else None


class SignInSettings(IdentitySettings):
    """A web front end that signs its users in through the issuer (`web_sign_in`)."""

    oidc_client_id: str = "conformity-dashboard"
    oidc_client_secret: str | None = None  # a confidential client's (Keycloak's client authentication); none for public clients
    # Signs the session cookie; outside development it must be set (at least 32 characters).
    session_secret: str | None = Field(default=None, min_length=32)

    @field_validator("session_secret", "oidc_client_secret", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: str | None) -> str | None:
        return value or None  # compose passes unset variables as empty strings


# --- HTTP edge: rate limits on /public/, request body size, security headers (SECURITY.md) ---


class HttpEdgeSettings(BaseSettings):
    """What every HTTP app of the platform (the four services, the dashboard) enforces before any
    route runs. The rate limits count per replica; the reverse proxy holds the global limit."""

    model_config = SettingsConfigDict(env_prefix="CONFORMITY_", extra="ignore")

    # Addresses or networks of the reverse proxies whose X-Forwarded-For is believed, comma-separated
    # ("10.0.0.5,10.1.0.0/16"); empty: none, the client is the connection's peer.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Every request under /public/ (no token) counts one against its client's budget.
    public_requests_per_window: int = Field(default=600, ge=1)
    public_rate_window_seconds: int = Field(default=60, ge=1)
    # Larger bodies are refused with 413 (a bulk verification of 1,000 numbers is about 20 KB).
    max_request_body_bytes: int = Field(default=1_048_576, ge=1024)
    # Behind TLS: answers carry Strict-Transport-Security for this long.
    served_over_https: bool = False
    hsts_max_age_seconds: int = Field(default=31_536_000, ge=0)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _addresses(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        for part in value if isinstance(value, list) else ():
            ipaddress.ip_network(part, strict=False)  # a typo must fail at start, not trust nothing silently
        return value


# --- the settings of every service --------------------------------------------------------------


class ServiceSettings(HttpEdgeSettings, IdentitySettings):
    model_config = SettingsConfigDict(env_prefix="CONFORMITY_", env_nested_delimiter="__", extra="ignore")

    service_name: str = "service"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; default: SQLite file under data_dir. "
        "`{service}` in it is replaced by the service name (one database per service).",
    )
    data_dir: Path = Path("var")
    log_level: str = "INFO"
    log_json: bool = True
    outbox_poll_seconds: float = 1.0
    # Rows the relay publishes per round (one select, one send of them all, one update); large,
    # so that a bulk cascade's hundred thousand events go out in few rounds.
    outbox_batch_size: int = 5000
    consumers_enabled: bool = True
    # Records handled in one database transaction and one offset commit when a backlog is
    # waiting (after a bulk cascade); a single record is handled as soon as it arrives.
    consumer_batch_size: int = Field(default=200, ge=1, le=5000)
    # A real cluster: replicas of each topic (3 on a three-broker cluster), how many must have a
    # write before it counts (2), partitions per topic (the most replicas of a service that share
    # its consumption). Single-node defaults, as `make run` starts one broker.
    kafka_topic_partitions: int = Field(default=3, ge=1)
    kafka_replication_factor: int = Field(default=1, ge=1)
    kafka_min_insync_replicas: int = Field(default=1, ge=1)
    # Connections per replica: replicas x services x (pool + overflow) must stay under the
    # database's max_connections (PostgreSQL's default 100), with room for the relay's own.
    db_pool_size: int = Field(default=5, ge=1)
    db_max_overflow: int = Field(default=5, ge=0)
    # Published outbox rows are kept a week for inspection; inbox rows (the de-duplication
    # window) two weeks, longer than the topics' retention (7 days), so that no event can be
    # redelivered after its inbox row is gone.
    outbox_retention_hours: float = Field(default=168, gt=0)
    inbox_retention_hours: float = Field(default=336, gt=0)
    retention_interval_seconds: float = Field(default=3600, gt=0)
    consumer_max_attempts: int = Field(default=5, ge=1)
    # --- Kafka authentication (SECURITY.md): SASL/SCRAM as this service's own principal ---
    kafka_security_protocol: str = Field(default="PLAINTEXT", pattern="^(PLAINTEXT|SASL_PLAINTEXT|SASL_SSL)$")
    kafka_sasl_mechanism: str = Field(default=SCRAM_SHA_512, pattern="^SCRAM-SHA-(256|512)$")
    kafka_username: str | None = Field(default=None, description="default: the service's name")
    kafka_password: SecretStr | None = None
    kafka_credentials_file: Path | None = Field(
        default=None, description="development: the local broker's credentials.json (every principal's password)"
    )
    kafka_ssl_cafile: Path | None = Field(default=None, description="SASL_SSL: the CA that signed the brokers' certificates")

    # Business dates (working days, validity, deadlines, "today") are the regulator's.
    time_zone: str = Field(default=REGULATOR_TIME_ZONE, description="IANA name of the regulator's time zone")

    @field_validator("time_zone")
    @classmethod
    def _known_time_zone(cls, name: str) -> str:
        time_zone(name)
        return name

    def clock(self) -> Clock:
        return Clock(time_zone(self.time_zone))

    def kafka_access(self) -> KafkaAccess:
        """How this service connects to Kafka, as its own principal."""
        return access_of(self.kafka_security_protocol, self.kafka_username or self.service_name, self.kafka_password,
                         self.kafka_credentials_file, self.kafka_sasl_mechanism, self.kafka_ssl_cafile)

    def refuse_unsafe_kafka(self) -> None:
        """Refuse (KafkaAccessRefused) Kafka settings unsafe outside development."""
        refuse_unsafe_access(self.kafka_access(), credentials_file=self.kafka_credentials_file,
                             environment=self.env.value, development=self.development)

    def kafka_servers(self) -> list[str]:
        """The bootstrap servers as a list: FastStream takes a string as one address, so
        "kafka-1:9092,kafka-2:9092" must be split before it reaches the broker client."""
        return [server.strip() for server in self.kafka_bootstrap_servers.split(",") if server.strip()]

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url.replace("{service}", self.service_name)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{(self.data_dir / f'{self.service_name}.db').resolve()}"
