"""Applications: an agency applies (on the commitment path it is granted or refused at once);
on the standard path a regulator accepts it, then grants or rejects it."""

from __future__ import annotations

import uuid
from typing import Any

import structlog

from conformity_shared.auth import Principal
from conformity_shared.errors import Forbidden, NotFound
from conformity_shared.messaging import UnitOfWork
from conformity_shared.runtime import ServiceRuntime

from approval import db
from approval.commands import DecideApplication, SubmitApplication
from approval.domain import Application, ApplicationRefused, Decision, Path
from approval.policy import Policy, in_force
from approval.service.authorization import is_another_organisation
from approval.service.publishing import store_approval
from approval.service.views import get_application

log = structlog.get_logger("approval")


async def apply(runtime: ServiceRuntime, principal: Principal, command: SubmitApplication) -> dict[str, Any]:
    """Submit an application; on the commitment path it is granted or refused at once.

    A refused application is kept (the agency can read every failed rule later) and the
    refusal answers 422 with the rules and the application's id.
    """
    if is_another_organisation(principal, command.organisation_uscc):
        raise Forbidden("an agency applies only for its own organisation (organisation_uscc must be the token's)")
    async with runtime.unit_of_work() as uow:
        application = _submitted(command, uow)
        refusal = None
        if application.path is Path.COMMITMENT:
            refusal = await _grant_on_the_spot(uow, application, in_force(runtime))
        await db.save_application(uow.session, application, new=True)
        await uow.commit()
    if refusal is not None:
        refusal.application_id = application.id
        raise refusal
    log.info("application submitted", application_id=application.id, path=application.path.value,
             status=application.status.value)
    return await get_application(runtime, principal, application.id)


def _submitted(command: SubmitApplication, uow: UnitOfWork) -> Application:
    return Application.submit(
        id=str(uuid.uuid4()), organisation_uscc=command.organisation_uscc,
        organisation_name=command.organisation_name, kind=command.kind, path=command.path,
        requested_fields=command.requested_fields, declared=command.declared.as_declared(),
        commitment_text=command.commitment_text, at=uow.clock.now(),
    )


async def _grant_on_the_spot(uow: UnitOfWork, application: Application, policy: Policy) -> ApplicationRefused | None:
    """Grant the commitment-path application and schedule its verification, or return the
    refusal (the refused application is kept, so the refusal is raised after the commit)."""
    at = application.submitted_at
    try:
        approval, verification = application.grant_on_the_spot(
            policy.catalogue, policy.rules, approval_id=str(uuid.uuid4()), verification_id=str(uuid.uuid4()),
            at=at, on=uow.clock.date_of(at),
        )
    except ApplicationRefused as refusal:
        return refusal
    await store_approval(uow, approval, new=True, catalogue=policy.catalogue)
    await db.save_verification(uow.session, verification, new=True)
    return None


async def accept(runtime: ServiceRuntime, principal: Principal, application_id: str) -> dict[str, Any]:
    """Accept a complete standard-path application; the decision is due 20 working days
    after the regulator's day of acceptance."""
    policy = in_force(runtime)
    refusal: ApplicationRefused | None = None
    async with runtime.unit_of_work() as uow:
        application = await _load(uow, principal, application_id)
        at = uow.clock.now()
        try:
            application.accept(policy.catalogue, policy.rules, on=uow.clock.date_of(at), at=at,
                               calendar=policy.calendar)
        except ApplicationRefused as exc:
            refusal = exc  # kept as refused with what is missing, then answered as 422
        await db.save_application(uow.session, application)
        await uow.commit()
    if refusal is not None:
        refusal.application_id = application_id
        raise refusal
    return await get_application(runtime, principal, application_id)


async def decide(runtime: ServiceRuntime, principal: Principal, command: DecideApplication) -> dict[str, Any]:
    """A regulator grants an accepted application (all or some fields) or rejects it with reasons."""
    policy = in_force(runtime)
    async with runtime.unit_of_work() as uow:
        application = await _load(uow, principal, command.application_id)
        at = uow.clock.now()
        if command.decision is Decision.GRANT:
            approval = application.grant(
                command.granted_fields or application.requested_fields, policy.catalogue, policy.rules,
                approval_id=str(uuid.uuid4()), at=at, actor=principal.actor, reasons=command.reasons,
            )
            await store_approval(uow, approval, new=True, catalogue=policy.catalogue)
        else:
            application.reject(command.reasons, at=at, actor=principal.actor)
        await db.save_application(uow.session, application)
        await uow.commit()
    return await get_application(runtime, principal, command.application_id)


async def _load(uow: UnitOfWork, principal: Principal, application_id: str) -> Application:
    application = await db.load_application(uow.session, application_id)
    # Another agency's application answers exactly as a missing one.
    if application is None or is_another_organisation(principal, application.organisation_uscc):
        raise NotFound(f"application {application_id} not found", field="application_id")
    return application
