"""Where the operator tools find the platform: one settings class, `CONFORMITY_*` variables.

The defaults are what `make run` starts on this machine (broker 127.0.0.1:9092, services
on 8001-8004, the dashboard on 8000).
"""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

from conformity_shared.settings import SignInSettings

SERVICES = ("approval", "certificates", "supervision", "proficiency")


class OperatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONFORMITY_", extra="ignore")

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    approval_url: str = "http://127.0.0.1:8001"
    certificates_url: str = "http://127.0.0.1:8002"
    supervision_url: str = "http://127.0.0.1:8003"
    proficiency_url: str = "http://127.0.0.1:8004"
    dashboard_url: str = "http://127.0.0.1:8000"

    def service_urls(self) -> dict[str, str]:
        return {service: getattr(self, f"{service}_url").rstrip("/") for service in SERVICES}


class DashboardSettings(OperatorSettings, SignInSettings):
    """The dashboard: what it reads, how much it keeps in memory, and who may open it (regulators
    and operators, signed in through the issuer as `dashboard_url`'s client `oidc_client_id`)."""

    dashboard_group_id: str | None = None  # default: one group per dashboard process (it must see every partition)
    dashboard_max_events: int = 20_000  # the in-memory index keeps the newest this many (about 4 KB each)
    dashboard_backlog: int = 200  # events a newly opened page receives before the live ones
