"""Event handlers: decoding is the shared consumer's; each handler calls one use case."""

from __future__ import annotations

from conformity_shared import events
from conformity_shared.messaging import Handler
from conformity_shared.runtime import ServiceRuntime

from certificates import service
from certificates.settings import CertificatesSettings


def handlers(runtime: ServiceRuntime[CertificatesSettings]) -> dict[type[events.Event], Handler]:
    months = runtime.settings.suspension_months
    return {
        events.ApprovalGrantedV1: service.record_body_granted,
        events.ApprovalSuspendedV1: service.record_body_suspended,
        events.ApprovalReinstatedV1: service.record_body_reinstated,
        events.ApprovalScopeReducedV1: service.record_body_scope_reduced,
        events.ApprovalRevokedV1: lambda uow, e: service.suspend_for_revoked_body(uow, e, months),
        events.SpotCheckFailedV1: lambda uow, e: service.suspend_for_failed_spot_check(uow, e, months),
        events.RectificationVerifiedV1: service.reinstate_after_rectification,
    }
