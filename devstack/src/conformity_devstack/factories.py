"""Test data, one definition each: valid USCCs, application bodies, certificate requests,
principals (with an inspector's request headers) and events as the services' tests and
the integration tests build them.

Everything is plain data (dicts shaped as the HTTP APIs take them, the shared event models),
so the same factory serves a unit test that calls a use case and an end-to-end test that
posts over HTTP.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import secrets
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from conformity_shared import events, uscc
from conformity_shared.auth import Principal, Role
from conformity_devstack.testing import token

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


def as_inspector(inspector_id: str, correlation_id: str | None = None) -> dict[str, str]:
    """The headers of an HTTP request by inspector `inspector_id`: its bearer token and, when
    given, the X-Correlation-ID that starts the request's chain."""
    headers = token(Role.INSPECTOR, inspector_id=inspector_id)
    return {**headers, "X-Correlation-ID": correlation_id} if correlation_id else headers


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


def standard_application(
    org: str,
    *,
    fields: Iterable[str] = ("CCC-07", "MS-QMS"),
    staff: int | Mapping[str, int] = 15,
    capital: int | None = 8_000_000,
    **overrides: Any,
) -> dict[str, Any]:
    """A certification body's standard-path application (no commitment text) that meets every
    rule, by default with a high-risk field (CCC-07) that the commitment path would refuse."""
    overrides.setdefault("commitment_text", None)
    return application(org, "standard", fields=fields, staff=staff, capital=capital, **overrides)


# Tests that accept standard-path applications on the real clock reach 20 working days ahead,
# possibly into a year whose State Council holiday notice the approval service does not ship;
# it then refuses the deadline (working_day_calendar_missing). These calendars stand in for
# such years in tests only: weekends only, no days off, and their source says so. They are
# never the State Council's calendar and are never given for a year the service ships.
TEST_ONLY_CALENDAR_SOURCE = "TEST ONLY: weekends only, no days off; not a State Council notice"


def working_day_calendars_for_tests(today: dt.date, shipped_years: Iterable[int]) -> list[dict[str, Any]]:
    """TEST-ONLY calendar records (``CONFORMITY_WORKING_DAY_CALENDARS``) for ``today``'s year and
    the next, where the service ships none, so that a test runs the same on any day."""
    missing = sorted({today.year, today.year + 1} - set(shipped_years))
    return [{"year": year, "holidays": [], "working_days": [], "source": TEST_ONLY_CALENDAR_SOURCE} for year in missing]


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
    field_schemes: Mapping[str, Iterable[str]] | None = None,
) -> events.ApprovalGrantedV1:
    """The event approval publishes when it grants `org` the `fields`; without `field_schemes`
    (the schemes each field admits) it is a grant recorded before grants named them."""
    return events.ApprovalGrantedV1(
        approval_id=approval_id or str(uuid.uuid4()), organisation_uscc=org, kind=kind,
        organisation_name="Fujian Certification Co." if kind == "certification_body" else "Beijing Testing Lab",
        fields=list(fields), path="commitment", granted_at=at or dt.datetime.now(dt.UTC),
        **({"field_schemes": {f: list(s) for f, s in field_schemes.items()}} if field_schemes is not None else {}),
    )


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


# --- supervision ---------------------------------------------------------------------------


def inspector_body(inspector_id: str, organisation: str | None = None, **overrides: Any) -> dict[str, Any]:
    """An inspector as `POST /inspectors` takes it."""
    body: dict[str, Any] = {
        "id": inspector_id, "name": f"Inspector {inspector_id}",
        "organisation": organisation or new_uscc(), "region": "110000",
    }
    body.update(overrides)
    return body


def certificate_issued(
    holder: str, issuing_body: str, number: str | None = None, **overrides: Any
) -> events.CertificateIssuedV1:
    """The event certificates publishes when `issuing_body` certifies `holder` (a CCC kettle,
    valid from 2024-01-01 for the five years CCC allows), which lists the holder in supervision's
    directory."""
    fields: dict[str, Any] = {
        "certificate_number": number or f"CN-{uuid.uuid4().hex[:10].upper()}", "issuing_body_uscc": issuing_body,
        "holder_uscc": holder, "holder_name": "Beijing Kettle Works", "scheme": "CCC", "field": "CCC-07",
        "product": "electric kettles", "standard": "GB 4706.19-2008", "valid_from": dt.date(2024, 1, 1),
        "valid_until": dt.date(2028, 12, 31),
    }
    return events.CertificateIssuedV1(**(fields | overrides))


OBSERVER = "notary-fuzhou"  # the outside observer of the test campaigns (an observer token's subject)
BEACON_SOURCE = "China Welfare Lottery 3D, the draw published after the reveal deadline"
BEACON_VALUE = "3D 2026-12-05: 4 7 1"


def campaign_request(
    *, now: dt.datetime | None = None, reveal_in: float = 4.0, beacon_in: float = 5.0, **overrides: Any
) -> dict[str, Any]:
    """A campaign as `POST /campaigns` takes it: every kind of target, every class drawn whole
    (ratio 1), two inspectors per target, the regulator and OBSERVER as parties, secrets revealed
    until `reveal_in` seconds after `now` (default: this instant) and a beacon due `beacon_in`
    seconds after it; `overrides` replace keys."""
    now = now or dt.datetime.now(dt.UTC)
    body: dict[str, Any] = {
        "name": "2024 H1 random inspections",
        "target_kinds": ["certification_body", "enterprise", "testing_lab"],
        "ratios": {"A": "1", "B": "1", "C": "1", "D": "1"},
        "inspectors_per_target": 2,
        "observers": [OBSERVER],
        "reveal_deadline": (now + dt.timedelta(seconds=reveal_in)).isoformat(),
        "beacon_source": BEACON_SOURCE,
        "beacon_due": (now + dt.timedelta(seconds=beacon_in)).isoformat(),
    }
    return body | overrides


def party_secret() -> str:
    """A party's secret for one campaign: 32 random bytes in hex, kept private until the reveal."""
    return secrets.token_hex(32)


def commitment(party: str, secret: str) -> str:
    """What a party commits to (DRAW.md): lowercase hex SHA-256(UTF-8(party) || 0x00 || UTF-8(secret))."""
    return hashlib.sha256(party.encode() + b"\x00" + secret.encode()).hexdigest()


def spot_check_result(
    failing: Iterable[str],
    passing: Iterable[str] = (),
    *,
    findings: str = "sample overheats (GB 4706.19 clause 11)",
    finding: str = "overheating",
) -> dict[str, Any]:
    """A product spot check's result as `POST /inspections/{id}/result` takes it: the samples
    under the `failing` certificates failed (each with `finding`), those under `passing` passed.
    It names no verdict: a spot check's follows from its samples (fail when one failed)."""
    samples: list[dict[str, Any]] = [{"certificate_number": n, "passed": False, "finding": finding} for n in failing]
    samples += [{"certificate_number": n, "passed": True} for n in passing]
    return {"findings": findings, "samples": samples}


# --- proficiency ---------------------------------------------------------------------------


def reference_design(value: float = 10.0, sigma_pt: float = 0.5, *, expanded_uncertainty: float = 0.1,
                     coverage_factor: float = 2.0) -> dict[str, Any]:
    """A round's design as `POST /rounds` takes it: a reference value with U and k, and a fixed
    sigma_pt. By default u(x_pt) = 0.1 / 2 = 0.05, below 0.3 sigma_pt = 0.15: plain z scores."""
    return {
        "assigned_value": {"method": "reference", "value": value, "expanded_uncertainty": expanded_uncertainty,
                           "coverage_factor": coverage_factor},
        "sigma_pt": {"method": "fixed", "value": sigma_pt},
    }


def proficiency_round(
    labs: Iterable[str],
    deadline: dt.datetime,
    *,
    field: str = "TL-FOOD",
    measurand: str = "lead in rice flour",
    unit: str = "mg/kg",
    design: Mapping[str, Any] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """A round as `POST /rounds` takes it, enrolling `labs`; by default `reference_design()`."""
    body: dict[str, Any] = {
        "field": field, "measurand": measurand, "unit": unit, "deadline": deadline.isoformat(),
        **(design or reference_design()), "labs": list(labs),
    }
    body.update(overrides)
    return body


def blind_sample(org: str, *, field: str = "TL-FOOD", known_value: float = 0.20, tolerance: float = 0.03,
                 **overrides: Any) -> dict[str, Any]:
    """A blind sample for lab `org` as `POST /blind-samples` takes it."""
    body: dict[str, Any] = {
        "field": field, "lab_uscc": org, "measurand": "cadmium in rice", "unit": "mg/kg",
        "description": "rice, 500 g, sample S-17", "known_value": known_value, "tolerance": tolerance,
    }
    body.update(overrides)
    return body
