"""Event handlers: decode is done by the shared consumer; each handler calls one use case."""

from __future__ import annotations

from typing import TYPE_CHECKING

from conformity_shared import events

from certificates import service

if TYPE_CHECKING:
    from conformity_shared.messaging import Handler

    from certificates.app import CertificatesSettings


def handlers(settings: CertificatesSettings) -> dict[type[events.Event], Handler]:
    months = settings.suspension_months
    return {
        events.ApprovalGrantedV1: service.record_body_granted,
        events.ApprovalSuspendedV1: service.record_body_suspended,
        events.ApprovalReinstatedV1: service.record_body_reinstated,
        events.ApprovalScopeReducedV1: service.record_body_scope_reduced,
        events.ApprovalRevokedV1: lambda uow, e: service.suspend_for_revoked_body(uow, e, months),
        events.SpotCheckFailedV1: lambda uow, e: service.suspend_for_failed_spot_check(uow, e, months),
        events.RectificationVerifiedV1: service.reinstate_after_rectification,
    }
