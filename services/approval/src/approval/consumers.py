"""Event handlers: failed inspections and lab failures suspend approvals."""

from __future__ import annotations

from conformity_shared import events
from conformity_shared.messaging import Handler
from conformity_shared.runtime import ServiceRuntime

from approval import service
from approval.settings import ApprovalSettings


def handlers(runtime: ServiceRuntime[ApprovalSettings]) -> dict[type[events.Event], Handler]:
    return {
        events.InspectionFailedV1: service.suspend_after_failed_inspection,
        events.LabFieldSuspensionRequiredV1: service.suspend_lab_field,
    }
