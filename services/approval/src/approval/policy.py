"""The rules, field catalogue and working-day calendar in force, built once from settings.

`create_app` builds the policy when the app is built, so a configuration the domain
cannot use (a negative minimum, a malformed catalogue record, a malformed working-day calendar)
stops the service at start instead of failing the first request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from conformity_shared.runtime import ServiceRuntime

from approval.domain import Catalogue, Rules, WorkingCalendar
from approval.settings import ApprovalSettings
from approval.working_day_calendars import working_calendar


@dataclass(frozen=True)
class Policy:
    rules: Rules
    catalogue: Catalogue
    calendar: WorkingCalendar

    @classmethod
    def from_settings(cls, settings: ApprovalSettings) -> Policy:
        rules = Rules(
            min_staff_per_field=settings.min_staff_per_field,
            min_registered_capital_rmb=settings.min_registered_capital_rmb,
            lab_min_staff_per_field=settings.lab_min_staff_per_field,
            high_risk_refuses_commitment=settings.high_risk_refuses_commitment,
            standard_decision_working_days=settings.standard_decision_working_days,
            verification_days=settings.verification_days,
        )
        catalogue = Catalogue.default()
        if settings.catalogue_fields:
            catalogue = catalogue.replacing(*Catalogue.from_records(settings.catalogue_fields))
        return cls(rules, catalogue, working_calendar(settings))


def in_force(runtime: ServiceRuntime[Any]) -> Policy:
    """The policy the app was built with (``create_app`` holds it as the runtime's context)."""
    return runtime.context
