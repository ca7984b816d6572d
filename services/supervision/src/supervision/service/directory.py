"""The target directory: listed from other services' events, read by the regulator.

Bodies and labs enter when approved, enterprises when certified, each with a new
organisation's credit standing; the directory follows every certificate's status so that an
inspector sees what to sample.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from conformity_shared import events
from conformity_shared.auth import Principal, Role
from conformity_shared.errors import NotFound
from conformity_shared.messaging import UnitOfWork
from conformity_shared.runtime import ServiceRuntime

from supervision import db
from supervision.domain import CertificateStatus, TargetKind

# The status each certificate event leaves the certificate in.
STATUS_AFTER: Mapping[type[events.CertificateEvent], CertificateStatus] = MappingProxyType(
    {
        events.CertificateSuspendedV1: CertificateStatus.SUSPENDED,
        events.CertificateReinstatedV1: CertificateStatus.VALID,
        events.CertificateWithdrawnV1: CertificateStatus.WITHDRAWN,
        events.CertificateCancelledV1: CertificateStatus.CANCELLED,
        events.CertificateExpiredV1: CertificateStatus.EXPIRED,
    }
)


async def record_approved_organisation(uow: UnitOfWork, event: events.ApprovalGrantedV1) -> None:
    """An approved body or lab is listed, or its kind and name brought up to date."""
    kind = TargetKind(event.kind.value)
    await db.list_target(uow.session, event.organisation_uscc, kind, event.organisation_name, uow.clock.now())


async def record_certified_enterprise(uow: UnitOfWork, event: events.CertificateIssuedV1) -> None:
    """A certified enterprise is listed (once), and its new certificate recorded as valid."""
    if await db.target_kind(uow.session, event.holder_uscc) is None:
        await db.list_target(uow.session, event.holder_uscc, TargetKind.ENTERPRISE, event.holder_name, uow.clock.now())
    await db.mirror_issued_certificate(uow.session, event.certificate_number, event.holder_uscc)


async def record_certificate_status(uow: UnitOfWork, event: events.CertificateEvent) -> None:
    await db.set_certificate_status(uow.session, event.certificate_number, STATUS_AFTER[type(event)])


async def list_targets(
    runtime: ServiceRuntime, kind: events.OrganisationKind | None, limit: int, offset: int
) -> dict[str, Any]:
    async with runtime.sessions() as session:
        rows = await db.target_page(session, kind.value if kind else None, limit, offset)
    return {"items": [{"uscc": r["uscc"], "kind": r["kind"], "name": r["name"], "credit_class": r["credit_class"]} for r in rows]}


async def get_target(runtime: ServiceRuntime, uscc: str, principal: Principal | None = None) -> dict[str, Any]:
    """One target with its credit history, each change with its cause and the event behind it.
    An agency or a lab asking (`principal`) sees only its own: another's answers as a missing one."""
    if principal is not None and principal.role in (Role.AGENCY, Role.LAB) and uscc.upper() != (principal.org or "").upper():
        raise NotFound(f"no target {uscc} in the directory", field="uscc")
    async with runtime.sessions() as session:
        row = await db.target_row(session, uscc)
        if row is None:
            raise NotFound(f"no target {uscc} in the directory", field="uscc")
        changes = await db.credit_history(session, uscc)
    return {
        "uscc": row.uscc, "kind": row.kind, "name": row.name, "credit_class": row.credit_class,
        "credit_history": [
            {"previous": c.previous, "current": c.current, "cause": c.cause, "cause_event_id": c.cause_event_id,
             "at": c.at.isoformat()}
            for c in changes
        ],
    }
