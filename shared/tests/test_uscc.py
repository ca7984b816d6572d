import random

import pytest
from pydantic import BaseModel, ValidationError

from conformity_shared import uscc


class Org(BaseModel):
    code: uscc.USCC


def test_published_example_code_is_valid() -> None:
    # The example printed with GB 32100-2015's explanatory material.
    assert uscc.validate("91350100M000100Y43") == "91350100M000100Y43"


def test_lower_case_input_is_normalised() -> None:
    assert uscc.validate("91350100m000100y43") == "91350100M000100Y43"


@pytest.mark.parametrize(
    ("code", "rule"),
    [
        ("91350100M000100Y4", "18 characters"),
        ("91350100M000100Y44", "18th"),
        ("91350100M000100X43", "17th"),
        ("91350100M0001I0Y43", "not allowed"),
        ("9135A100M000100Y43", "administrative division"),
    ],
)
def test_invalid_codes_name_the_rule_they_break(code: str, rule: str) -> None:
    with pytest.raises(uscc.InvalidUSCC, match=rule):
        uscc.validate(code)


def test_generated_codes_pass_both_check_characters() -> None:
    rng = random.Random(7)
    for _ in range(500):
        assert uscc.validate(uscc.make(rng))


def test_model_field_error_names_the_code_rule() -> None:
    with pytest.raises(ValidationError) as info:
        Org(code="91350100M000100Y44")
    assert "Unified Social Credit Code" in str(info.value)
    assert info.value.errors()[0]["loc"] == ("code",)
