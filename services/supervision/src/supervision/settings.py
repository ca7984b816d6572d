"""Settings of the supervision service (`CONFORMITY_*` variables)."""

from __future__ import annotations

from conformity_shared.settings import ServiceSettings


class SupervisionSettings(ServiceSettings):
    service_name: str = "supervision"
    credit_clean_days: int = 365  # a class is restored by one step after this many days without failure
    credit_check_interval_seconds: float = 3600.0
    allow_as_of: bool = False  # lets a regulator run the credit restoration as at a later instant (demos, tests)
