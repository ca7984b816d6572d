"""Certificate rules: schemes and their validity, the certificate number, the certificate
lifecycle, whether a body may issue in a field, and who may act on a certificate.

Pure Python, no I/O, no clock: the service layer loads a ``Certificate``, calls one
transition with the instant and the regulator's date, saves the new state with the history
entries it gained and emits the matching event.

    schemes.py      Scheme, default and longest validity, the default catalogue's field schemes,
                    add_months, the number format
    certificate.py  Status, SuspensionReason, Action, TRANSITIONS, Certificate, HistoryEntry
    issuance.py     BodyStatus, BodyStanding (the read model of approvals), may_issue (scope and scheme)
    permissions.py  who may act on a certificate (may_manage), ActionForbidden; no valid certificate
                    of a revoked body (may_be_reinstated)
"""

from certificates.domain.certificate import (
    AUTOMATIC,
    EXPIRED_AFTER_VALIDITY,
    FINAL_STATUSES,
    SUSPENDED_ON_REVOCATION,
    TRANSITIONS,
    WITHDRAWN_AT_DEADLINE,
    Action,
    Certificate,
    HistoryEntry,
    IllegalTransition,
    Status,
    SuspensionReason,
    allowed_from,
    suspension_deadline,
)
from certificates.domain.credential import IssuingBody, certificate_credential, status_bits, status_list_credential
from certificates.domain.issuance import BodyStanding, BodyStatus, IssuanceRefused, may_issue
from certificates.domain.permissions import (
    IMPOSED_SUSPENSIONS,
    MANUAL_SUSPENSION_REASONS,
    ActionForbidden,
    IssuingBodyRevoked,
    is_holder_request,
    may_be_reinstated,
    may_manage,
    may_see_history,
)
from certificates.domain.schemes import (
    DEFAULT_FIELD_SCHEMES,
    DEFAULT_SUSPENSION_MONTHS,
    DEFAULT_VALIDITY_YEARS,
    MAX_SEQUENCE,
    MAX_VALIDITY_YEARS,
    SCHEME_CODES,
    CertificateNumber,
    InvalidCertificateNumber,
    InvalidValidity,
    Scheme,
    UnknownScheme,
    add_months,
    body_code,
    certificate_number,
    check_validity,
    default_valid_until,
    is_valid_certificate_number,
    latest_valid_until,
    number_prefix,
    validity,
)

__all__ = [
    "AUTOMATIC",
    "DEFAULT_FIELD_SCHEMES",
    "DEFAULT_SUSPENSION_MONTHS",
    "DEFAULT_VALIDITY_YEARS",
    "EXPIRED_AFTER_VALIDITY",
    "FINAL_STATUSES",
    "IMPOSED_SUSPENSIONS",
    "MANUAL_SUSPENSION_REASONS",
    "MAX_SEQUENCE",
    "MAX_VALIDITY_YEARS",
    "SCHEME_CODES",
    "SUSPENDED_ON_REVOCATION",
    "TRANSITIONS",
    "WITHDRAWN_AT_DEADLINE",
    "Action",
    "ActionForbidden",
    "BodyStanding",
    "BodyStatus",
    "Certificate",
    "CertificateNumber",
    "HistoryEntry",
    "IllegalTransition",
    "InvalidCertificateNumber",
    "InvalidValidity",
    "IssuanceRefused",
    "IssuingBody",
    "IssuingBodyRevoked",
    "Scheme",
    "Status",
    "SuspensionReason",
    "UnknownScheme",
    "add_months",
    "allowed_from",
    "body_code",
    "certificate_credential",
    "certificate_number",
    "check_validity",
    "default_valid_until",
    "is_holder_request",
    "is_valid_certificate_number",
    "latest_valid_until",
    "may_be_reinstated",
    "may_issue",
    "may_manage",
    "may_see_history",
    "number_prefix",
    "status_bits",
    "status_list_credential",
    "suspension_deadline",
    "validity",
]
