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

The package's modules, one per part of the regulation: ``catalogue`` (fields and their
risk), ``rules`` (the conditions and the application check), ``lifecycle`` (the approval),
``verification`` (post-approval verification), ``application`` (the two paths) and
``errors``. Import from ``approval.domain``; the names below are its public surface.
"""

from approval.domain.application import Application, ApplicationStatus, overdue_applications
from approval.domain.catalogue import DEFAULT_FIELDS, Catalogue, Kind, Risk, ScopeField
from approval.domain.errors import ApplicationRefused, DecisionRefused, IllegalTransition, InvalidConfiguration
from approval.domain.lifecycle import Approval, ApprovalAction, ApprovalStatus, HistoryEntry
from approval.domain.rules import COMPLETENESS_RULES, Declared, Path, Rule, RuleFailure, Rules, check_application
from approval.domain.verification import Verification, VerificationStatus

__all__ = [
    "COMPLETENESS_RULES",
    "DEFAULT_FIELDS",
    "Application",
    "ApplicationRefused",
    "ApplicationStatus",
    "Approval",
    "ApprovalAction",
    "ApprovalStatus",
    "Catalogue",
    "DecisionRefused",
    "Declared",
    "HistoryEntry",
    "IllegalTransition",
    "InvalidConfiguration",
    "Kind",
    "Path",
    "Risk",
    "Rule",
    "RuleFailure",
    "Rules",
    "ScopeField",
    "Verification",
    "VerificationStatus",
    "check_application",
    "overdue_applications",
]
