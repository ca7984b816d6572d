"""Test data, one definition each: valid USCCs, application bodies, certificate requests,
principals and events as the services' tests and the integration tests build them.

Everything is plain data (dicts shaped as the HTTP APIs take them, the shared event models),
so the same factory serves a unit test that calls a use case and an end-to-end test that
posts over HTTP.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from conformity_shared import events, uscc
from conformity_shared.auth import Principal, Role

COMMITMENT_TEXT = "We commit that every condition is met. Signed: Li Wei, legal representative."


def new_uscc(rng: random.Random | None = None) -> str:
    """A fresh, valid Unified Social Credit Code (an enterprise registered by market regulation)."""
    return uscc.make(rng or random.Random())


# --- principals ----------------------------------------------------------------------------

REGULATOR = Principal("regulator", Role.REGULATOR)


def agency(org: str) -> Principal:
    return Principal(org, Role.AGENCY, org=org)


def lab(org: str) -> Principal:
    return Principal(org, Role.LAB, org=org)


def inspector(inspector_id: str) -> Principal:
    return Principal(inspector_id, Role.INSPECTOR, inspector_id=inspector_id)


# --- approval ------------------------------------------------------------------------------


def application(
    org: str,
    path: str = "commitment",
    *,
    kind: str = "certification_body",
    fields: Iterable[str] = ("MS-QMS",),
    staff: int | Mapping[str, int] = 12,
    capital: int | None = 5_000_000,
    **overrides: Any,
) -> dict[str, Any]:
    """An application body as `POST /applications` takes it; by default a certification body
    that meets every rule for MS-QMS on the commitment path. `staff` is one number for every
    field or a number per field; `overrides` replace top-level keys."""
    fields = list(fields)
    per_field = dict(staff) if isinstance(staff, Mapping) else {f: staff for f in fields}
    declared: dict[str, Any] = {
        "staff_per_field": per_field,
        "premises": "Fuzhou, Gulou district, 12 Wusi Road",
        "management_system": "ISO/IEC 17021-1 quality manual v3",
    }
    if capital is not None:
        declared["registered_capital_rmb"] = capital
    body: dict[str, Any] = {
        "organisation_uscc": org,
        "organisation_name": "Fujian Certification Co." if kind == "certification_body" else "Beijing Testing Lab",
        "kind": kind,
        "path": path,
        "requested_fields": fields,
        "declared": declared,
        "commitment_text": COMMITMENT_TEXT,
    }
    body.update(overrides)
    return body


def lab_application(org: str, path: str = "commitment", *, fields: Iterable[str] = ("TL-ELEC", "TL-EMC"),
                    staff: int | Mapping[str, int] = 3, **overrides: Any) -> dict[str, Any]:
    """A testing lab's application (labs declare no registered capital)."""
    return application(org, path, kind="testing_lab", fields=fields, staff=staff, capital=None, **overrides)


# --- certificates --------------------------------------------------------------------------


def certificate_request(
    holder: str, *, field: str = "MS-QMS", scheme: str = "management_system", **overrides: Any
) -> dict[str, Any]:
    """A certificate request as `POST /certificates` takes it."""
    body: dict[str, Any] = {
        "holder_uscc": holder,
        "holder_name": "Beijing Kettle Works",
        "scheme": scheme,
        "field": field,
        "product": "Design and manufacture of electric kettles",
        "standard": "GB/T 19001-2016",
    }
    body.update(overrides)
    return body


def approval_granted(
    org: str,
    fields: Iterable[str] = ("MS-QMS",),
    *,
    kind: str = "certification_body",
    approval_id: str | None = None,
    at: dt.datetime | None = None,
) -> events.ApprovalGrantedV1:
    """The event approval publishes when it grants `org` the `fields`."""
    return events.ApprovalGrantedV1(
        approval_id=approval_id or str(uuid.uuid4()), organisation_uscc=org, kind=kind,
        organisation_name="Fujian Certification Co." if kind == "certification_body" else "Beijing Testing Lab",
        fields=list(fields), path="commitment", granted_at=at or dt.datetime.now(dt.UTC),
    )


# --- supervision ---------------------------------------------------------------------------


def inspector_body(inspector_id: str, organisation: str | None = None, **overrides: Any) -> dict[str, Any]:
    """An inspector as `POST /inspectors` takes it."""
    body: dict[str, Any] = {
        "id": inspector_id, "name": f"Inspector {inspector_id}",
        "organisation": organisation or new_uscc(), "region": "110000",
    }
    body.update(overrides)
    return body


# --- certificates ----------------------------------------------------------------------------


def approval_change(event_type: type[events.ApprovalEvent], org: str, approval_id: str, **fields: Any) -> Any:
    """An approval event about a certification body's approval (suspended, reinstated, scope
    reduced, revoked): `fields` are the event's own (`reason`, `fields`, `remaining_fields`...)."""
    fields.setdefault("reason", "decided by the regulator")
    return event_type(approval_id=approval_id, organisation_uscc=org, kind="certification_body", **fields)


def spot_check_failed(
    holder: str, numbers: Iterable[str], *, inspection_id: str | None = None, findings: str = "sample overheats"
) -> events.SpotCheckFailedV1:
    """Supervision's failed product spot check of `holder`, naming the certificates `numbers`."""
    return events.SpotCheckFailedV1(
        inspection_id=inspection_id or str(uuid.uuid4()), holder_uscc=holder, certificate_numbers=list(numbers),
        findings=findings,
    )


def rectification_verified(
    holder: str, spot_check_id: str, numbers: Iterable[str], *, inspection_id: str | None = None
) -> events.RectificationVerifiedV1:
    """Supervision's re-inspection that verified the rectification after spot check `spot_check_id`."""
    return events.RectificationVerifiedV1(
        inspection_id=inspection_id or str(uuid.uuid4()), spot_check_id=spot_check_id, holder_uscc=holder,
        certificate_numbers=list(numbers),
    )
