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

from conformity_shared.runtime import ServiceRuntime

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


async def run_due_transitions(runtime: ServiceRuntime, today: dt.date | None = None) -> dict[str, int]:
    """Withdraw certificates whose suspension deadline has passed, expire those past validity."""
    today = today or dt.date.today()
    c = db.certificates
    counts = {"withdrawn": 0, "expired": 0}
    due = {
        "withdrawn": sa.and_(c.c.status == domain.Status.SUSPENDED.value, c.c.suspended_until < today),
        "expired": sa.and_(c.c.status.in_([domain.Status.VALID.value, domain.Status.SUSPENDED.value]), c.c.valid_until < today),
    }
    for outcome, condition in due.items():
        while True:
            async with runtime.unit_of_work() as uow:
                rows = (await uow.session.execute(sa.select(c).where(condition).order_by(c.c.number).limit(BATCH))).all()
                if not rows:
                    break
                for row in rows:
                    cert = service._to_domain(row)
                    at = dt.datetime.now(dt.UTC)
                    if outcome == "withdrawn":
                        cert.withdraw_after_deadline(at=at, today=today)
                    else:
                        cert.expire(at=at, today=today)
                    await service._apply(uow, cert)
                await uow.commit()
                counts[outcome] += len(rows)
    if any(counts.values()):
        log.info("time-based transitions applied", **counts)
    return counts


async def due_transitions_pass(runtime: ServiceRuntime) -> None:
    if await _take_lease(runtime, "due-transitions", runtime.settings.scheduler_interval_seconds * 3):
        await run_due_transitions(runtime)


def start(runtime: ServiceRuntime) -> None:
    runtime.every(runtime.settings.scheduler_interval_seconds, lambda: due_transitions_pass(runtime), "due-transitions")
