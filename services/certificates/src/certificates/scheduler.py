"""Time-based transitions: a passed suspension deadline withdraws, a passed validity expires.

Runs inside the service, once per interval across every replica (the shared runtime's
periodic jobs claim each period in the database), and each certificate is changed by a
conditional update of the status it was read in, so a transition never fires twice even if
two passes ever overlap.
"""

from __future__ import annotations

import datetime as dt

import structlog

from conformity_shared.errors import Conflict
from conformity_shared.messaging import UnitOfWork
from conformity_shared.runtime import PeriodicJob, ServiceRuntime

from certificates import db, domain, service

log = structlog.get_logger("certificates.scheduler")
BATCH = 500


async def run_due_transitions(runtime: ServiceRuntime, today: dt.date | None = None) -> dict[str, int]:
    """Withdraw certificates whose suspension deadline has passed, expire those past validity
    (DESIGN flow 5), on ``today`` (default: the regulator's today), in batches of BATCH, one
    transaction each.

    A certificate changed meanwhile by another writer is left alone (the conditional update
    in ``db.save_certificate`` matches nothing) and reconsidered on the next pass; running a
    pass twice changes nothing the second time.
    """
    today = today or runtime.clock.today()
    # The answer counts each transition by the status it led to.
    counts = {domain.Status.WITHDRAWN.value: 0, domain.Status.EXPIRED.value: 0, "skipped": 0}
    for condition in db.due_conditions(today):
        after = ""  # keyset: each certificate is looked at once per pass, whatever happens to it
        while True:
            async with runtime.unit_of_work() as uow:
                certs = await db.load_due(uow.session, condition, after, BATCH)
                if not certs:
                    break
                await _apply_due(uow, certs, today, counts)
                await uow.commit()
            after = certs[-1].number
    if any(counts.values()):
        log.info("time-based transitions applied", **counts)
    return counts


async def _apply_due(uow: UnitOfWork, certs: list[domain.Certificate], today: dt.date, counts: dict[str, int]) -> None:
    """Apply to each certificate what time does to it on ``today``, counting what happened."""
    for cert in certs:
        if cert.apply_due_transition(at=uow.clock.now(), today=today) is None:
            continue
        try:
            await service.record_transition(uow, cert)
        except Conflict:
            counts["skipped"] += 1
            continue
        counts[cert.status.value] += 1


def jobs(runtime: ServiceRuntime) -> list[PeriodicJob]:
    return [PeriodicJob("due-transitions", runtime.settings.scheduler_interval_seconds,
                        lambda: run_due_transitions(runtime))]
