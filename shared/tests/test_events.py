"""The event contract: what a change to a published model must keep."""

import datetime as dt

import pytest
from pydantic import ValidationError

from conformity_shared import events

BODY = "91350100M000100Y43"
GRANTED = {
    "approval_id": "a-1", "organisation_uscc": BODY, "kind": "certification_body",
    "organisation_name": "Fujian Certification Co.", "fields": ["MS-QMS", "CCC-07"], "path": "commitment",
    "granted_at": dt.datetime(2026, 6, 1, tzinfo=dt.UTC).isoformat(),
}


def test_a_grant_names_the_schemes_each_field_admits() -> None:
    granted = events.ApprovalGrantedV1.model_validate(
        GRANTED | {"field_schemes": {"MS-QMS": ["management_system"], "CCC-07": ["CCC"]}}
    )
    assert granted.field_schemes == {"MS-QMS": ["management_system"], "CCC-07": ["CCC"]}
    assert events.ApprovalGrantedV1.model_validate_json(granted.model_dump_json()) == granted


def test_a_grant_recorded_before_field_schemes_still_validates_and_says_nothing() -> None:
    assert events.ApprovalGrantedV1.model_validate(GRANTED).field_schemes == {}


def test_field_schemes_speak_the_certificate_schemes() -> None:
    assert {s.value for s in events.CertificationScheme} == {"CCC", "voluntary_product", "management_system", "service"}
    with pytest.raises(ValidationError):
        events.ApprovalGrantedV1.model_validate(GRANTED | {"field_schemes": {"MS-QMS": ["organic"]}})
