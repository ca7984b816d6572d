"""Time-based transitions: a passed suspension deadline withdraws, a passed validity expires.

Runs inside the service. With several instances, a lease row lets one of them run a pass
at a time, and each certificate is changed by a conditional update of the status it was
read in, so a transition never fires twice.
"""

from __future__ import annotations

import datetime as dt
import os
import socket

import sqlalchemy as sa
import structlog

from conformity_shared.errors import Conflict
from conformity_shared.runtime import PeriodicJob, ServiceRuntime

from certificates import db, domain, service

log = structlog.get_logger("certificates.scheduler")
HOLDER = f"{socket.gethostname()}:{os.getpid()}"
BATCH = 500


async def _take_lease(runtime: ServiceRuntime, name: str, seconds: float) -> bool:
    now = dt.datetime.now(dt.UTC)
    lease = db.scheduler_leases
    async with runtime.sessions() as session:
        taken = await session.execute(
            sa.update(lease)
            .where(lease.c.name == name)
            .where(sa.or_(lease.c.expires_at < now, lease.c.holder == HOLDER))
            .values(holder=HOLDER, expires_at=now + dt.timedelta(seconds=seconds))
        )
        if taken.rowcount == 0:
            exists = await session.scalar(sa.select(lease.c.name).where(lease.c.name == name))
            if exists:
                return False
            try:
                await session.execute(
                    sa.insert(lease).values(name=name, holder=HOLDER, expires_at=now + dt.timedelta(seconds=seconds))
                )
            except sa.exc.IntegrityError:
                return False
        await session.commit()
    return True


def _due_conditions(today: dt.date) -> list[sa.ColumnElement[bool]]:
    """What may be due on ``today``, each condition served by its own index; the domain
    decides which transition applies (when both dates have passed, the earlier one)."""
    c = db.certificates
    return [
        sa.and_(c.c.status == domain.Status.SUSPENDED.value, c.c.suspended_until < today),
        sa.and_(c.c.status.in_([domain.Status.VALID.value, domain.Status.SUSPENDED.value]), c.c.valid_until < today),
    ]


async def run_due_transitions(runtime: ServiceRuntime, today: dt.date | None = None) -> dict[str, int]:
    """Withdraw certificates whose suspension deadline has passed, expire those past validity
    (DESIGN flow 5), in batches of BATCH, one transaction each.

    A certificate changed meanwhile by another writer is left alone (the conditional update
    in ``service._save`` matches nothing) and reconsidered on the next pass; running a pass
    twice changes nothing the second time.
    """
    today = today or service._today()
    c = db.certificates
    counts = {"withdrawn": 0, "expired": 0, "skipped": 0}
    for condition in _due_conditions(today):
        after = ""  # keyset: each certificate is looked at once per pass, whatever happens to it
        while True:
            async with runtime.unit_of_work() as uow:
                query = sa.select(c).where(condition, c.c.number > after).order_by(c.c.number).limit(BATCH)
                certs = [service._to_domain(row) for row in (await uow.session.execute(query)).all()]
                if not certs:
                    break
                for cert in certs:
                    if cert.apply_due_transition(at=dt.datetime.now(dt.UTC), today=today) is None:
                        continue
                    try:
                        await service._apply(uow, cert)
                    except Conflict:
                        counts["skipped"] += 1
                        continue
                    counts[cert.status.value] += 1
                await uow.commit()
            after = certs[-1].number
    if any(counts.values()):
        log.info("time-based transitions applied", **counts)
    return counts


async def due_transitions_pass(runtime: ServiceRuntime) -> None:
    if await _take_lease(runtime, "due-transitions", runtime.settings.scheduler_interval_seconds * 3):
        await run_due_transitions(runtime)


def jobs(runtime: ServiceRuntime) -> list[PeriodicJob]:
    return [PeriodicJob("due-transitions", runtime.settings.scheduler_interval_seconds,
                        lambda: due_transitions_pass(runtime))]
