"""Approval rules: the field catalogue, the conditions an applicant must meet, the two
application paths, the approval lifecycle and post-approval verification.

Pure Python, no I/O. The service layer loads these objects, calls one method, saves
the result with its history entry and turns it into the shared events.

- Notification-commitment path (告知承诺): the applicant signs that it meets every
  condition; if the application is complete and the declared facts meet the rules, the
  approval is granted on the spot and a post-approval verification is scheduled. A
  verification that finds the commitment untrue revokes the approval.
- Standard path: submitted, accepted (the application is complete), then granted, in
  whole or for some of the requested fields, or rejected with reasons, within 20
  working days of acceptance.
- An approval is active, suspended (whole, or in some fields while the rest stays
  active) or revoked; it can be reinstated and reduced in scope. Every change appends a
  history entry; an illegal change raises ``IllegalTransition`` (HTTP 409).

The package's modules, one per part of the regulation: ``catalogue`` (fields, their
risk and the certification schemes each admits), ``rules`` (the conditions and the application check, split by what each part
checks), ``application`` (the two paths), ``lifecycle`` (the approval), ``verification``
(post-approval verification), ``working_days`` (the working-day calendars of the 20-day
deadline, one per year; the State Council's notices themselves are data files in
``calendars/``), ``errors``, and ``values`` (the value types they share: path, declared facts,
rule codes and failures). Import from ``approval.domain``; the names below are its public
surface.
"""

from approval.domain.application import (
    TRANSITIONS as APPLICATION_TRANSITIONS,
    Application,
    ApplicationAction,
    ApplicationStatus,
    Decision,
    overdue_applications,
)
from approval.domain.catalogue import DEFAULT_FIELDS, Catalogue, Kind, Risk, ScopeField
from approval.domain.errors import (
    ApplicationRefused,
    DecisionRefused,
    IllegalTransition,
    InvalidConfiguration,
    MalformedWorkingDayCalendar,
    NotTheAssignedInspector,
    WorkingDayCalendarMissing,
)
from approval.domain.lifecycle import (
    TRANSITIONS as APPROVAL_TRANSITIONS,
    Approval,
    ApprovalAction,
    ApprovalStatus,
    HistoryEntry,
    approved_kind,
)
from approval.domain.rules import ApplicationFacts, Rules, check_application, check_grant
from approval.domain.values import COMPLETENESS_RULES, Declared, Path, Rule, RuleFailure
from approval.domain.verification import (
    TRANSITIONS as VERIFICATION_TRANSITIONS,
    CreditSanction,
    Verification,
    VerificationAction,
    VerificationOutcome,
    VerificationStatus,
)
from approval.domain.working_days import (
    CalendarRule,
    WorkingCalendar,
    YearCalendar,
    add_working_days,
    deadline_passed,
    working_days_between,
)

__all__ = [
    "APPLICATION_TRANSITIONS",
    "APPROVAL_TRANSITIONS",
    "COMPLETENESS_RULES",
    "DEFAULT_FIELDS",
    "VERIFICATION_TRANSITIONS",
    "Application",
    "ApplicationAction",
    "ApplicationFacts",
    "ApplicationRefused",
    "ApplicationStatus",
    "Approval",
    "ApprovalAction",
    "ApprovalStatus",
    "CalendarRule",
    "Catalogue",
    "CreditSanction",
    "Decision",
    "DecisionRefused",
    "Declared",
    "HistoryEntry",
    "IllegalTransition",
    "InvalidConfiguration",
    "Kind",
    "MalformedWorkingDayCalendar",
    "NotTheAssignedInspector",
    "Path",
    "Risk",
    "Rule",
    "RuleFailure",
    "Rules",
    "ScopeField",
    "Verification",
    "VerificationAction",
    "VerificationOutcome",
    "VerificationStatus",
    "WorkingCalendar",
    "WorkingDayCalendarMissing",
    "YearCalendar",
    "add_working_days",
    "approved_kind",
    "check_application",
    "check_grant",
    "deadline_passed",
    "overdue_applications",
    "working_days_between",
]
