"""Supervision's use cases, one unit of work each, by area: the target directory learned from
events, credit classes, inspectors, inspections, campaigns through commit, freeze, reveal and
draw, their public records, public results.
Rules live in the domain package."""

from __future__ import annotations

from supervision.service.campaigns import (
    cancel_campaign,
    commit_to_campaign,
    create_campaign,
    draw_campaign,
    freeze_campaign,
    get_campaign,
    list_campaigns,
    party_of,
    reveal_secret,
)
from supervision.service.credit import (
    apply_failure,
    credit_policy,
    lower_credit_for_breached_commitment,
    lower_credit_for_lab_failure,
    restore_clean_credit,
)
from supervision.service.directory import (
    get_target,
    list_targets,
    record_approved_organisation,
    record_certificate_status,
    record_certified_enterprise,
)
from supervision.service.inspections import get_inspection, list_inspections, order_inspection, record_result
from supervision.service.inspectors import list_inspectors, register_inspector
from supervision.service.public_draws import public_campaign, published_draw, published_snapshot
from supervision.service.public_results import published_results

__all__ = [
    "apply_failure",
    "cancel_campaign",
    "commit_to_campaign",
    "create_campaign",
    "credit_policy",
    "draw_campaign",
    "freeze_campaign",
    "get_campaign",
    "get_inspection",
    "get_target",
    "list_campaigns",
    "list_inspections",
    "list_inspectors",
    "list_targets",
    "lower_credit_for_breached_commitment",
    "lower_credit_for_lab_failure",
    "order_inspection",
    "party_of",
    "public_campaign",
    "published_draw",
    "published_results",
    "published_snapshot",
    "record_approved_organisation",
    "record_certificate_status",
    "record_certified_enterprise",
    "record_result",
    "register_inspector",
    "restore_clean_credit",
    "reveal_secret",
]
