"""Event handlers: failed inspections and lab failures suspend approvals."""

from __future__ import annotations

from typing import TYPE_CHECKING

from conformity_shared import events

from approval import service

if TYPE_CHECKING:
    from conformity_shared.messaging import Handler

    from approval.app import ApprovalSettings


def handlers(settings: ApprovalSettings) -> dict[type[events.Event], Handler]:
    return {
        events.InspectionFailedV1: service.suspend_after_failed_inspection,
        events.LabFieldSuspensionRequiredV1: service.suspend_lab_field,
    }
