"""Periodic jobs of supervision: a clean record restores credit classes over time."""

from __future__ import annotations

from conformity_shared.runtime import PeriodicJob, ServiceRuntime

from supervision import service
from supervision.settings import SupervisionSettings


def jobs(runtime: ServiceRuntime[SupervisionSettings]) -> list[PeriodicJob]:
    return [
        PeriodicJob(
            "credit-restoration", runtime.settings.credit_check_interval_seconds, lambda: restore_credit(runtime)
        ),
    ]


async def restore_credit(runtime: ServiceRuntime[SupervisionSettings]) -> int:
    """Restore one class to every organisation whose clean period has run, as of the runtime's clock."""
    return await service.restore_clean_credit(runtime, runtime.clock.now())
