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


def _with_prefix(prefix: str, body: str = "350100M000100Y") -> str:
    """A code with the given first two characters and both check characters right."""
    first16 = prefix + body[:6] + body[6:14]
    org = first16[8:16]
    return uscc.complete(first16[:8] + org)


def test_all_zero_code_is_refused_for_its_registration_authority() -> None:
    # Both check characters of 000000000000000000 happen to be right: only the table refuses it.
    with pytest.raises(uscc.InvalidUSCC, match="registration authority"):
        uscc.validate("000000000000000000")


@pytest.mark.parametrize("prefix", ["11", "12", "13", "19", "21", "29", "31", "35", "39", "41", "51", "52", "53",
                                    "59", "61", "62", "71", "72", "81", "91", "92", "93", "A1", "A9", "N1", "N2",
                                    "N3", "N9", "Y1"])
def test_every_authority_and_type_of_gb_32100_is_accepted(prefix: str) -> None:
    assert uscc.validate(_with_prefix(prefix)).startswith(prefix)


@pytest.mark.parametrize(
    ("prefix", "rule"),
    [
        ("01", "registration authority"), ("B1", "registration authority"),
        ("14", "organisation type"), ("94", "organisation type"), ("99", "organisation type"),
        ("Y9", "organisation type"), ("A2", "organisation type"), ("N4", "organisation type"),
    ],
)
def test_an_authority_or_type_outside_the_table_is_refused(prefix: str, rule: str) -> None:
    with pytest.raises(uscc.InvalidUSCC, match=rule):
        uscc.validate(_with_prefix(prefix))


def test_a_letter_gb_32100_leaves_out_is_refused_before_the_table() -> None:
    with pytest.raises(uscc.InvalidUSCC, match="not allowed"):
        uscc.validate("Z1350100M000100Y43")
