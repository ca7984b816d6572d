"""The event contract: one Pydantic model per event type, versioned in its name.

A model's `ce_type` is the CloudEvents `type` (`supervision.spot_check_failed.v1`),
its `topic` the stream of the service that emits it, and `subject()` the aggregate id
that becomes both `ce_subject` and the Kafka key, so one aggregate's events keep their
order. A change to a published model is a new class (`...V2`), except a new field with a
default, which records published before it still validate against (they read as the
default); consumers are deployed before producers send it, since models forbid unknown fields.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from conformity_shared import topics
from conformity_shared.uscc import USCC


class Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    ce_type: ClassVar[str]
    topic: ClassVar[str]

    def subject(self) -> str:
        raise NotImplementedError


class OrganisationKind(StrEnum):
    CERTIFICATION_BODY = "certification_body"
    TESTING_LAB = "testing_lab"
    ENTERPRISE = "enterprise"


class CertificationScheme(StrEnum):
    """The schemes certificates are issued under; each certification field admits some of them."""

    CCC = "CCC"  # China Compulsory Certification (products)
    VOLUNTARY_PRODUCT = "voluntary_product"
    MANAGEMENT_SYSTEM = "management_system"
    SERVICE = "service"


class CreditClass(StrEnum):
    A = "A"
    B = "B"
    C = "C"
    D = "D"


# --- approval.events -------------------------------------------------------------


class ApprovalEvent(Event):
    topic: ClassVar[str] = topics.APPROVAL
    approval_id: str
    organisation_uscc: USCC
    kind: OrganisationKind

    def subject(self) -> str:
        return self.approval_id


class ApprovalGrantedV1(ApprovalEvent):
    """An approval granted, on the commitment path or by a regulator's decision."""

    ce_type: ClassVar[str] = "approval.granted.v1"
    organisation_name: str
    fields: list[str] = Field(min_length=1)
    path: str
    granted_at: dt.datetime
    field_schemes: dict[str, list[CertificationScheme]] = Field(
        default={},
        description="the schemes each granted field admits (approval's catalogue); empty in grants "
        "recorded before it was added",
    )


class ApprovalSuspendedV1(ApprovalEvent):
    """Suspended whole (`fields` empty) or for some fields only."""

    ce_type: ClassVar[str] = "approval.suspended.v1"
    fields: list[str] = []
    reason: str


class ApprovalReinstatedV1(ApprovalEvent):
    """A suspension lifted: the whole approval (`fields` empty) or only those fields."""

    ce_type: ClassVar[str] = "approval.reinstated.v1"
    fields: list[str] = []
    reason: str


class ApprovalScopeReducedV1(ApprovalEvent):
    """Fields removed from an approval; the organisation may no longer work in them."""

    ce_type: ClassVar[str] = "approval.scope_reduced.v1"
    removed_fields: list[str] = Field(min_length=1)
    remaining_fields: list[str]
    reason: str


class ApprovalRevokedV1(ApprovalEvent):
    """An approval revoked (final): certificates suspend everything the body issued (flow 3)."""

    ce_type: ClassVar[str] = "approval.revoked.v1"
    reason: str


class CommitmentBreachedV1(ApprovalEvent):
    """A post-approval verification found the signed commitment untrue (credit sanction)."""

    ce_type: ClassVar[str] = "approval.commitment_breached.v1"
    verification_id: str
    findings: str


# --- certificates.events ---------------------------------------------------------


class CertificateEvent(Event):
    topic: ClassVar[str] = topics.CERTIFICATES
    certificate_number: str
    issuing_body_uscc: USCC
    holder_uscc: USCC

    def subject(self) -> str:
        return self.certificate_number


class CertificateIssuedV1(CertificateEvent):
    """A certificate issued by an approved certification body, valid from `valid_from`."""

    ce_type: ClassVar[str] = "certificate.issued.v1"
    holder_name: str
    scheme: str
    field: str
    product: str
    standard: str
    valid_from: dt.date
    valid_until: dt.date


class CertificateSuspendedV1(CertificateEvent):
    """A certificate suspended for `reason`; withdrawn automatically after `suspended_until`."""

    ce_type: ClassVar[str] = "certificate.suspended.v1"
    reason: str
    suspended_until: dt.date


class CertificateReinstatedV1(CertificateEvent):
    """A suspended certificate valid again (e.g. rectification verified, flow 2)."""

    ce_type: ClassVar[str] = "certificate.reinstated.v1"
    reason: str


class CertificateWithdrawnV1(CertificateEvent):
    """A certificate withdrawn (final), by decision or because its suspension deadline passed."""

    ce_type: ClassVar[str] = "certificate.withdrawn.v1"
    reason: str


class CertificateCancelledV1(CertificateEvent):
    """A certificate cancelled at its holder's request (final)."""

    ce_type: ClassVar[str] = "certificate.cancelled.v1"
    reason: str


class CertificateExpiredV1(CertificateEvent):
    """A certificate whose validity ended (final)."""

    ce_type: ClassVar[str] = "certificate.expired.v1"


# --- supervision.events ----------------------------------------------------------


class SpotCheckFailedV1(Event):
    """A product spot check failed: the named certificates of the holder must be suspended."""

    ce_type: ClassVar[str] = "supervision.spot_check_failed.v1"
    topic: ClassVar[str] = topics.SUPERVISION
    inspection_id: str
    holder_uscc: USCC
    certificate_numbers: list[str] = Field(min_length=1)
    findings: str

    def subject(self) -> str:
        return self.inspection_id


class RectificationVerifiedV1(Event):
    """A re-inspection passed: the certificates suspended by `spot_check_id` may be reinstated."""

    ce_type: ClassVar[str] = "supervision.rectification_verified.v1"
    topic: ClassVar[str] = topics.SUPERVISION
    inspection_id: str
    spot_check_id: str
    holder_uscc: USCC
    certificate_numbers: list[str] = Field(min_length=1)

    def subject(self) -> str:
        return self.inspection_id


class InspectionFailedV1(Event):
    """An inspection of a certification body or lab failed: approval suspends it."""

    ce_type: ClassVar[str] = "supervision.inspection_failed.v1"
    topic: ClassVar[str] = topics.SUPERVISION
    inspection_id: str
    target_uscc: USCC
    target_kind: OrganisationKind
    findings: str

    def subject(self) -> str:
        return self.inspection_id


class CreditClassChangedV1(Event):
    """An organisation's credit class changed (lowered by a failure, restored after a clean period)."""

    ce_type: ClassVar[str] = "supervision.credit_class_changed.v1"
    topic: ClassVar[str] = topics.SUPERVISION
    organisation_uscc: USCC
    previous: CreditClass
    current: CreditClass
    cause: str

    def subject(self) -> str:
        return self.organisation_uscc


# --- proficiency.events ----------------------------------------------------------


class RoundClosedV1(Event):
    """A proficiency-testing round was closed and evaluated (ISO 13528)."""

    ce_type: ClassVar[str] = "proficiency.round_closed.v1"
    topic: ClassVar[str] = topics.PROFICIENCY
    round_id: str
    field: str
    measurand: str
    unit: str
    assigned_value: float
    standard_uncertainty: float
    sigma_pt: float
    z_prime_used: bool
    participants: int
    # How x_pt and sigma_pt were obtained (added with defaults; absent from older events):
    assigned_value_method: str | None = Field(default=None, description='"reference" or "consensus"')
    sigma_pt_method: str | None = Field(default=None, description='"fixed" or "robust"')
    algorithm_a_stopping: str | None = Field(
        default=None, description='"third_significant_figure" or "full_convergence"; null when Algorithm A did not run'
    )
    chosen_at_closing: list[str] = Field(
        default_factory=list, description='"assigned_value", "sigma_pt": chosen by the regulator at closing'
    )
    closing_reason: str | None = Field(default=None, description="why they were chosen at closing")
    decided_by: str | None = Field(default=None, description="who chose them")

    def subject(self) -> str:
        return self.round_id


class RoundCancelledV1(Event):
    """A proficiency-testing round was cancelled by the regulator: no scores, no lab failures."""

    ce_type: ClassVar[str] = "proficiency.round_cancelled.v1"
    topic: ClassVar[str] = topics.PROFICIENCY
    round_id: str
    field: str
    measurand: str
    unit: str
    reason: str
    cancelled_by: str
    results_received: int = Field(description="results submitted before the cancellation, none of them scored")

    def subject(self) -> str:
        return self.round_id


class LabScoredV1(Event):
    """One lab's published performance in a closed round (its score and signal)."""

    ce_type: ClassVar[str] = "proficiency.lab_scored.v1"
    topic: ClassVar[str] = topics.PROFICIENCY
    round_id: str
    lab_uscc: USCC
    field: str
    score_kind: str  # "z" or "z_prime"
    score: float
    signal: str  # "acceptable" | "warning" | "action"
    zeta: float | None = None
    en: float | None = None

    def subject(self) -> str:
        return self.lab_uscc


class LabFailureV1(Event):
    """One failure of a lab in a field: an action signal or a failed blind sample."""

    ce_type: ClassVar[str] = "proficiency.lab_failed.v1"
    topic: ClassVar[str] = topics.PROFICIENCY
    lab_uscc: USCC
    field: str
    failure: str  # "action_signal" | "blind_sample_failed"
    reference_id: str  # the round or the blind sample
    detail: str

    def subject(self) -> str:
        return self.lab_uscc


class LabFieldSuspensionRequiredV1(Event):
    """Two action signals in a row in a field, or a failed blind sample (DESIGN flow 4)."""

    ce_type: ClassVar[str] = "proficiency.lab_field_suspension_required.v1"
    topic: ClassVar[str] = topics.PROFICIENCY
    lab_uscc: USCC
    field: str
    reason: str
    reference_ids: list[str] = Field(min_length=1)

    def subject(self) -> str:
        return self.lab_uscc


# --- notifications.events --------------------------------------------------------


class NotificationEvent(Event):
    topic: ClassVar[str] = topics.NOTIFICATIONS
    endpoint_id: str
    subscriber_uscc: USCC

    def subject(self) -> str:
        return self.endpoint_id


class DeliveryGivenUpV1(NotificationEvent):
    """A webhook delivery that failed at every attempt of its retry period; later changes of that
    certificate go on to the endpoint. Caused by (`ce_causationid`) the certificate event the
    webhook told of, in that event's correlation. `last_error` is the kind of the last failure
    (`HTTP 500`, `ConnectError`, `refused_target:private_address`), never an address."""

    ce_type: ClassVar[str] = "notification.delivery_given_up.v1"
    delivery_id: str
    certificate_number: str
    attempts: int
    last_error: str


class DeliveredV1(NotificationEvent):
    """A webhook the subscriber's endpoint accepted (2xx). `delivery_id` is its `webhook-id`; its
    causation id is the certificate event the webhook told of, in that event's correlation, so a
    cascade's deliveries hang beneath the change that caused them. No URL, no secret."""

    ce_type: ClassVar[str] = "notification.delivered.v1"
    delivery_id: str
    certificate_number: str
    attempts: int
    status_code: int

    def subject(self) -> str:
        return self.certificate_number


class DeliveryRetryingV1(NotificationEvent):
    """A webhook's first attempt failed; it is retried with backoff until it is delivered
    (`notification.delivered.v1`) or given up (`notification.delivery_given_up.v1`). Sent once per
    delivery, not per attempt. `failure` is the kind of failure (`HTTP 500`, `ConnectError`,
    `ReadTimeout`, `refused_target:private_address`), never an address."""

    ce_type: ClassVar[str] = "notification.delivery_retrying.v1"
    delivery_id: str
    certificate_number: str
    attempts: int
    failure: str
    next_attempt_at: dt.datetime

    def subject(self) -> str:
        return self.certificate_number


class EndpointDisabledV1(NotificationEvent):
    """An endpoint that kept failing was disabled; its deliveries wait until it is enabled again.
    No longer sent (it carried the endpoint's URL to every reader of the stream): see V2."""

    ce_type: ClassVar[str] = "notification.endpoint_disabled.v1"
    url: str
    reason: str
    consecutive_failures: int


class EndpointDisabledV2(NotificationEvent):
    """An endpoint that kept failing was disabled; its deliveries wait until it is enabled again.
    The reason names the count, since when and the kind of the last failure; the URL and the
    error's text stay with the subscriber (`GET /endpoints/{id}`)."""

    ce_type: ClassVar[str] = "notification.endpoint_disabled.v2"
    reason: str
    consecutive_failures: int
    failing_since: dt.datetime


CATALOGUE: dict[str, type[Event]] = {
    cls.ce_type: cls
    for cls in (
        ApprovalGrantedV1,
        ApprovalSuspendedV1,
        ApprovalReinstatedV1,
        ApprovalScopeReducedV1,
        ApprovalRevokedV1,
        CommitmentBreachedV1,
        CertificateIssuedV1,
        CertificateSuspendedV1,
        CertificateReinstatedV1,
        CertificateWithdrawnV1,
        CertificateCancelledV1,
        CertificateExpiredV1,
        SpotCheckFailedV1,
        RectificationVerifiedV1,
        InspectionFailedV1,
        CreditClassChangedV1,
        RoundClosedV1,
        RoundCancelledV1,
        LabScoredV1,
        LabFailureV1,
        LabFieldSuspensionRequiredV1,
        DeliveryGivenUpV1,
        DeliveredV1,
        DeliveryRetryingV1,
        EndpointDisabledV1,
        EndpointDisabledV2,
    )
}
