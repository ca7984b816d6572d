"""Settings of the certificates service (`CONFORMITY_*` variables)."""

from __future__ import annotations

from pydantic import Field

from conformity_shared.settings import ServiceSettings


class CertificatesSettings(ServiceSettings):
    service_name: str = "certificates"
    suspension_months: int = 6  # a suspension's deadline, after which the certificate is withdrawn
    scheduler_interval_seconds: float = 60.0
    allow_as_of: bool = False  # lets a regulator run the due transitions as of a later day (demos, tests)
    # Public bulk verification's own budget, in numbers asked per client per public rate window
    # (public_rate_window_seconds), besides the request it counts as: at least one full batch.
    public_verify_numbers_per_window: int = Field(default=5000, ge=1000)
