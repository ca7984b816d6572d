"""Use cases of approval: each opens one unit of work, asks the domain, saves the change,
its history and its events together.

One module per area: ``applications`` (apply, accept, decide), ``approvals`` (suspend,
reinstate, reduce the scope, revoke), ``verifications`` (assign, record), ``reactions`` (to
other services' events), ``views`` (what callers are shown), with ``authorization`` (an
agency acts and looks only on its own organisation) and ``publishing`` (an approval's
changes saved and turned into shared events).

Object-level authorization lives here, where the object is known: an agency sees only
its own applications and approvals (another's answers 404, exactly like a missing one),
and only the inspector assigned to a verification records it (403). Which roles may call
a use case at all is declared on the route.
"""

from approval.service.applications import accept, apply, decide
from approval.service.approvals import reduce_scope, reinstate_approval, revoke_approval, suspend_approval
from approval.service.reactions import suspend_after_failed_inspection, suspend_lab_field
from approval.service.verifications import assign_verification, record_verification
from approval.service.views import (
    catalogue_view,
    credit_sanctions,
    get_application,
    get_approval,
    get_verification,
    list_applications,
    list_approvals,
    list_verifications,
    overdue,
)

__all__ = [
    "accept",
    "apply",
    "assign_verification",
    "catalogue_view",
    "credit_sanctions",
    "decide",
    "get_application",
    "get_approval",
    "get_verification",
    "list_applications",
    "list_approvals",
    "list_verifications",
    "overdue",
    "record_verification",
    "reduce_scope",
    "reinstate_approval",
    "revoke_approval",
    "suspend_after_failed_inspection",
    "suspend_approval",
    "suspend_lab_field",
]
