"""Settings of the proficiency service (`CONFORMITY_*` variables)."""

from __future__ import annotations

from conformity_shared.settings import ServiceSettings


class ProficiencySettings(ServiceSettings):
    service_name: str = "proficiency"
