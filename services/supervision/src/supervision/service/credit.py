"""Credit classes: lowered by failures reported anywhere, restored by a clean record.

Every change is kept in the organisation's credit history with its cause and the event that
caused it, and published as CreditClassChangedV1 in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from conformity_shared import events
from conformity_shared.messaging import Handler, UnitOfWork
from conformity_shared.runtime import ServiceRuntime

from supervision import db
from supervision.domain import CreditChange, CreditPolicy, CreditStanding, Failure, FailureKind
from supervision.settings import SupervisionSettings

def credit_policy(settings: SupervisionSettings) -> CreditPolicy:
    return CreditPolicy(clean_period=dt.timedelta(days=settings.credit_clean_days))


async def apply_failure(uow: UnitOfWork, uscc: str, failure: Failure, policy: CreditPolicy) -> None:
    """Lower the organisation's class for `failure`, as the policy says."""
    # A failure may arrive before the organisation's own event: it is listed then, so the failure counts.
    standing = await db.listed_standing_for_update(uow.session, uscc, uow.clock.now())
    standing, change = standing.record_failure(failure, policy)
    await save_standing(uow, standing, change)


async def save_standing(uow: UnitOfWork, standing: CreditStanding, change: CreditChange | None) -> None:
    """Store the standing; a change of class goes into the credit history and out as an event."""
    await db.save_standing(uow.session, standing, uow.clock.now())
    if change is not None:
        await _record_change(uow, change)


async def _record_change(uow: UnitOfWork, change: CreditChange) -> None:
    """A change of class goes into the credit history and out as an event, in the same transaction."""
    await db.add_credit_change(uow.session, change, uow.cause_event_id)
    uow.emit(
        events.CreditClassChangedV1(
            organisation_uscc=change.organisation, previous=change.previous, current=change.current,
            cause=change.published_cause,
        )
    )


def lower_credit_for_breached_commitment(policy: CreditPolicy) -> Handler:
    """A breached commitment marks the organisation as untrustworthy (approval found its declaration false)."""

    async def handle(uow: UnitOfWork, event: events.CommitmentBreachedV1) -> None:
        failure = Failure(FailureKind.COMMITMENT_BREACHED, event.verification_id, uow.clock.now())
        await apply_failure(uow, event.organisation_uscc, failure, policy)

    return handle


def lower_credit_for_lab_failure(policy: CreditPolicy) -> Handler:
    """A lab's proficiency failure (an action signal twice, a failed blind sample) costs it credit."""

    async def handle(uow: UnitOfWork, event: events.LabFailureV1) -> None:
        failure = Failure(FailureKind.LAB_FAILURE, f"{event.field}:{event.reference_id}", uow.clock.now())
        await apply_failure(uow, event.lab_uscc, failure, policy)

    return handle


async def restore_clean_credit(runtime: ServiceRuntime[SupervisionSettings], now: dt.datetime | None = None) -> int:
    """Raise by one class every organisation whose clean period has run (never above A); one
    class per full period, so a long clean record is caught up in one pass. Returns the number
    of classes restored.

    Every step is a conditional update of the standing it was read in: a second pass running
    at the same time on another replica, or a failure recorded meanwhile, makes the step match
    nothing, so no change is applied twice and no failure is overwritten.
    """
    policy = credit_policy(runtime.settings)
    restored = 0
    async with runtime.unit_of_work() as uow:
        now = now or uow.clock.now()
        for standing in await db.standings_clean_since(uow.session, now - policy.clean_period):
            restored += await _restore(uow, standing, now, policy)
        await uow.commit()
    return restored


async def _restore(uow: UnitOfWork, standing: CreditStanding, now: dt.datetime, policy: CreditPolicy) -> int:
    """Restore one organisation class by class while it stays as read; the classes restored."""
    restored = 0
    while True:
        after, change = standing.restore_if_clean(now, policy)
        if change is None or not await db.restore_standing(uow.session, standing, after, uow.clock.now()):
            return restored
        await _record_change(uow, change)
        standing, restored = after, restored + 1
