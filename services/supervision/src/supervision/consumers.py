"""Event handlers: the directory of targets and credit classes learn from other services."""

from __future__ import annotations

from typing import TYPE_CHECKING

from conformity_shared import events

from supervision import service

if TYPE_CHECKING:
    from conformity_shared.messaging import Handler

    from supervision.app import SupervisionSettings


def handlers(settings: SupervisionSettings) -> dict[type[events.Event], Handler]:
    policy = service.credit_policy(settings)
    return {
        events.ApprovalGrantedV1: service.record_approved_organisation,
        events.CertificateIssuedV1: service.record_certified_enterprise,
        events.CertificateSuspendedV1: service.record_certificate_status,
        events.CertificateReinstatedV1: service.record_certificate_status,
        events.CertificateWithdrawnV1: service.record_certificate_status,
        events.CertificateCancelledV1: service.record_certificate_status,
        events.CertificateExpiredV1: service.record_certificate_status,
        events.CommitmentBreachedV1: service.lower_credit_for_breached_commitment(policy),
        events.LabFailureV1: service.lower_credit_for_lab_failure(policy),
    }
