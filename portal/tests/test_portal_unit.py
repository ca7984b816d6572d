"""The portal's own logic, without a browser: a service's refusal mapped to the form's inputs,
the language chosen, a CSV read. (The pages themselves are tested in the browser, against the
real platform: test_portal_browser.py.)"""

from __future__ import annotations

import pytest
from starlette.requests import Request

from conformity_portal import i18n
from conformity_portal.backend import FieldError, errors_of
from conformity_portal.pages.common import anchor, shown
from conformity_portal.pages.forms import read_csv


def test_every_failed_rule_of_a_refusal_is_kept_with_its_field() -> None:
    body = {"detail": "application refused: 2 rule(s) failed", "application_id": "a1", "failed_rules": [
        {"rule": "staff_below_minimum", "field": "declared.staff_per_field.MS-QMS", "detail": "needs 10, 3 declared"},
        {"rule": "registered_capital_below_minimum", "field": "declared.registered_capital_rmb", "detail": "too little"},
    ]}
    assert errors_of(body) == [
        FieldError("declared.staff_per_field.MS-QMS", "staff_below_minimum", "needs 10, 3 declared"),
        FieldError("declared.registered_capital_rmb", "registered_capital_below_minimum", "too little"),
    ]


def test_a_validation_answer_names_its_input_without_the_body_prefix() -> None:
    body = {"detail": [{"loc": ["body", "coverage_factor"], "msg": "U needs k", "type": "value_error"}]}
    assert errors_of(body) == [FieldError("coverage_factor", "value_error", "U needs k")]


def test_a_single_rule_takes_the_answers_field() -> None:
    body = {"detail": "no approval", "field": "field", "failed_rules": [{"rule": "no_active_approval", "detail": "no approval"}]}
    assert errors_of(body) == [FieldError("field", "no_active_approval", "no approval")]


@pytest.mark.parametrize(("field", "element"), [
    ("declared.staff_per_field.MS-QMS", "staff-MS-QMS"),
    ("declared.staff_per_field", "fields"),
    ("declared.registered_capital_rmb", "registered_capital_rmb"),
    ("declared.premises", "premises"),
    ("requested_fields.CCC-07", "field-CCC-07"),
    ("requested_fields.0", "fields"),
    ("requested_fields", "fields"),
    ("commitment_text", "commitment_text"),
    ("holder_uscc", "holder_uscc"),
    (None, None),
])
def test_a_field_path_points_at_its_input(field: str | None, element: str | None) -> None:
    assert anchor(field) == element


def test_an_error_for_an_input_the_form_lacks_stays_in_the_summary_without_a_link() -> None:
    (error,) = shown([FieldError("issuing_body", "no_active_approval", "not approved")], "zh", {"field"})
    assert error.anchor is None and error.detail == "not approved"


def test_rules_are_named_in_the_pages_language() -> None:
    (zh,) = shown([FieldError("commitment_text", "commitment_text_missing", "x")], "zh")
    (en,) = shown([FieldError("commitment_text", "commitment_text_missing", "x")], "en")
    assert (zh.rule_name, en.rule_name) == ("缺少承诺书", "commitment text missing")


def request_with(query: str = "", cookie: str | None = None) -> Request:
    headers = [(b"cookie", f"{i18n.COOKIE}={cookie}".encode())] if cookie else []
    return Request({"type": "http", "query_string": query.encode(), "headers": headers})


def test_chinese_by_default_english_on_request_or_remembered() -> None:
    assert i18n.language_of(request_with()) == "zh"
    assert i18n.language_of(request_with("lang=en")) == "en"
    assert i18n.language_of(request_with(cookie="en")) == "en"
    assert i18n.language_of(request_with("lang=zh", cookie="en")) == "zh"
    assert i18n.language_of(request_with("lang=fr", cookie="xx")) == "zh"


def test_every_message_has_both_languages() -> None:
    for key, pair in {**i18n.MESSAGES, **i18n.RULES, **i18n.STATES}.items():
        assert len(pair) == 2 and all(pair), key


def test_a_csv_is_read_with_its_line_numbers_and_refused_when_unusable() -> None:
    content = "\ufeffholder_uscc,holder_name,scheme,field,product,standard\nA,B,C,D,E,F\nG,H,I,J,K,L\n".encode()
    rows = read_csv(content, limit=10)
    assert [line for line, _ in rows] == [2, 3] and rows[0][1]["holder_uscc"] == "A"
    with pytest.raises(ValueError, match="missing columns: standard"):
        read_csv(b"holder_uscc,holder_name,scheme,field,product\nA,B,C,D,E\n", limit=10)
    with pytest.raises(ValueError, match="more than 1 rows"):
        read_csv(content, limit=1)
    with pytest.raises(ValueError, match="UTF-8"):
        read_csv("holder_uscc\n名".encode("gb18030"), limit=10)
