"""Unified Social Credit Code (GB 32100-2015).

18 characters: registration authority (1), organisation type (1), administrative
division (6 digits), organisation code (9, GB 11714, whose 9th character is its own
check character) and the overall check character. The authority and the type must be
a pair of GB 32100's table (with its amendments: A for the Central Military Commission's
organisation office, N for agriculture, Y for other authorities), and both check
characters are verified.
"""

from __future__ import annotations

import functools
import random
from typing import Annotated

from pydantic import AfterValidator

# GB 32100 leaves out I, O, S, V and Z so that codes cannot be misread.
_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {c: i for i, c in enumerate(_ALPHABET)}
_WEIGHTS = [pow(3, i, 31) for i in range(17)]
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


# GB 32100-2015 table 1 (登记管理部门码 and 机构类别码), with its amendments: each
# registration authority and the organisation types it registers.
ORGANISATION_TYPES: dict[str, dict[str, str]] = {
    "1": {"1": "government organ", "2": "public institution",
          "3": "mass organisation under the central establishment office", "9": "other"},  # 机构编制
    "2": {"1": "resident foreign news agency", "9": "other"},  # 外交
    "3": {"1": "law firm", "2": "notary office", "3": "grassroots legal service office",
          "4": "judicial expertise institution", "5": "arbitration commission", "9": "other"},  # 司法行政
    "4": {"1": "foreign cultural centre in China", "9": "other"},  # 文化
    "5": {"1": "social organisation", "2": "private non-enterprise unit", "3": "foundation", "9": "other"},  # 民政
    "6": {"1": "resident office of a foreign tourism authority",
          "2": "resident office of a Hong Kong, Macao or Taiwan tourism authority", "9": "other"},  # 旅游
    "7": {"1": "religious venue", "2": "religious school", "9": "other"},  # 宗教
    "8": {"1": "grassroots trade union", "9": "other"},  # 工会
    "9": {"1": "enterprise", "2": "individual business", "3": "farmers' cooperative"},  # 工商 (market regulation)
    "A": {"1": "military public institution", "9": "other"},  # 中央军委改革和编制办公室
    "N": {"1": "group-level collective economic organisation", "2": "village-level collective economic organisation",
          "3": "township-level collective economic organisation", "9": "other"},  # 农业
    "Y": {"1": "other"},  # 其他
}


class InvalidUSCC(ValueError):
    pass


def _org_value(char: str) -> int:
    # GB 11714 values: digits as themselves, letters A=10 ... Z=35.
    return int(char) if char.isdigit() else ord(char) - ord("A") + 10


def _org_check(body: str) -> str:
    remainder = 11 - sum(_org_value(c) * w for c, w in zip(body, _ORG_WEIGHTS)) % 11
    return {10: "X", 11: "0"}.get(remainder, str(remainder))


def _check(first17: str) -> str:
    return _ALPHABET[(31 - sum(_VALUE[c] * w for c, w in zip(first17, _WEIGHTS)) % 31) % 31]


@functools.lru_cache(maxsize=65536)  # bulk cascades validate the same few codes many times
def validate(code: str) -> str:
    """Return the code, upper-cased, or raise InvalidUSCC saying which rule failed."""
    if not isinstance(code, str):
        raise InvalidUSCC("must be a string of 18 characters")
    code = code.strip().upper()
    if len(code) != 18:
        raise InvalidUSCC(f"must have 18 characters, has {len(code)}")
    bad = sorted({c for c in code if c not in _VALUE})
    if bad:
        raise InvalidUSCC(f"contains characters not allowed by GB 32100: {''.join(bad)}")
    _check_authority_and_type(code[0], code[1])
    if not code[2:8].isdigit():
        raise InvalidUSCC("characters 3-8 must be the administrative division code (digits)")
    if _org_check(code[8:16]) != code[16]:
        raise InvalidUSCC("organisation code check character (17th) does not match GB 11714")
    if _check(code[:17]) != code[17]:
        raise InvalidUSCC("check character (18th) does not match GB 32100")
    return code


def _check_authority_and_type(authority: str, kind: str) -> None:
    types = ORGANISATION_TYPES.get(authority)
    if types is None:
        known = ", ".join(ORGANISATION_TYPES)
        raise InvalidUSCC(f"the 1st character {authority!r} is not a registration authority of GB 32100 ({known})")
    if kind not in types:
        raise InvalidUSCC(
            f"the 2nd character {kind!r} is not an organisation type of registration authority {authority!r} "
            f"(GB 32100 allows {', '.join(types)})"
        )


def complete(first16: str) -> str:
    """The full code for its first 16 characters (authority, type, division, 8 characters of
    organisation code): both check characters added. Validity of the parts is `validate`'s."""
    first17 = first16 + _org_check(first16[8:16])
    return first17 + _check(first17)


def make(rng: random.Random | None = None, *, division: str = "110105", kind: str = "91") -> str:
    """A valid code, for demos, fixtures and the bulk loader."""
    rng = rng or random.Random()
    org = "".join(rng.choice(_ALPHABET) for _ in range(8))
    return complete(kind + division + org)


def validate_field(value: str) -> str:
    """What the `USCC` annotation runs: `validate`, with the error worded for a model field."""
    try:
        return validate(value)
    except InvalidUSCC as exc:
        raise ValueError(f"invalid Unified Social Credit Code: {exc}") from None


USCC = Annotated[str, AfterValidator(validate_field)]
