"""Where the operator tools find the platform: one settings class, `CONFORMITY_*` variables.

The defaults are what `make run` starts on this machine (broker 127.0.0.1:9092, services
on 8001-8004 and 8006, the dashboard on 8000).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from conformity_shared.kafka_access import SCRAM_SHA_512, KafkaAccess, access_of
from conformity_shared.settings import HttpEdgeSettings, SignInSettings

SERVICES = ("approval", "certificates", "supervision", "proficiency", "notifications")


# What `make run` writes while it runs (how to reach its secured local broker), so that the tools
# started from the project's folder in another terminal connect without further settings.
LOCAL_PLATFORM_ENV = Path("var/platform.env")


class OperatorSettings(BaseSettings):
    # Variables win over the file; the file is read only if it exists.
    model_config = SettingsConfigDict(env_prefix="CONFORMITY_", extra="ignore", env_file=LOCAL_PLATFORM_ENV)

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    approval_url: str = "http://127.0.0.1:8001"
    certificates_url: str = "http://127.0.0.1:8002"
    supervision_url: str = "http://127.0.0.1:8003"
    proficiency_url: str = "http://127.0.0.1:8004"
    notifications_url: str = "http://127.0.0.1:8006"
    dashboard_url: str = "http://127.0.0.1:8000"

    # The operators' read-only Kafka principal; replaying dead letters uses a narrower one of its
    # own, which may write only to the services' replay topics (SECURITY.md).
    kafka_security_protocol: str = Field(default="PLAINTEXT", pattern="^(PLAINTEXT|SASL_PLAINTEXT|SASL_SSL)$")
    kafka_sasl_mechanism: str = Field(default=SCRAM_SHA_512, pattern="^SCRAM-SHA-(256|512)$")
    kafka_username: str = "operators"
    kafka_password: SecretStr | None = None
    kafka_replay_username: str = "dlq-replay"
    kafka_replay_password: SecretStr | None = None
    kafka_credentials_file: Path | None = None
    kafka_ssl_cafile: Path | None = None

    def kafka_access(self, *, replay: bool = False) -> KafkaAccess:
        """The operators' principal (reading), or the replay principal (`replay`)."""
        username = self.kafka_replay_username if replay else self.kafka_username
        secret = self.kafka_replay_password if replay else self.kafka_password
        return access_of(self.kafka_security_protocol, username, secret, self.kafka_credentials_file,
                         self.kafka_sasl_mechanism, self.kafka_ssl_cafile)

    def service_urls(self) -> dict[str, str]:
        return {service: getattr(self, f"{service}_url").rstrip("/") for service in SERVICES}


class DashboardSettings(OperatorSettings, SignInSettings, HttpEdgeSettings):
    """The dashboard: what it reads, how much it keeps in memory, who may open it (regulators and
    operators, signed in through the issuer as `dashboard_url`'s client `oidc_client_id`), and its
    HTTP edge (body size, security headers, trusted proxies) like every service's."""

    dashboard_group_id: str | None = None  # default: one group per dashboard process (it must see every partition)
    dashboard_max_events: int = 20_000  # the in-memory index keeps the newest this many (about 4 KB each)
    dashboard_backlog: int = 200  # events a newly opened page receives before the live ones
    # Webhook deliveries kept apart from the events, collapsed beneath their cause (about 300 B each).
    dashboard_max_deliveries: int = 200_000
