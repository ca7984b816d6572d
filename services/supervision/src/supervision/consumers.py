"""Event handlers: the directory of targets and credit classes learn from other services."""

from __future__ import annotations

from conformity_shared import events
from conformity_shared.messaging import Handler
from conformity_shared.runtime import ServiceRuntime

from supervision import service
from supervision.settings import SupervisionSettings


def handlers(runtime: ServiceRuntime[SupervisionSettings]) -> dict[type[events.Event], Handler]:
    policy = service.credit_policy(runtime.settings)
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
