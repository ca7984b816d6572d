"""Unified Social Credit Code (GB 32100-2015).

18 characters: registration authority (1), organisation type (1), administrative
division (6 digits), organisation code (9, GB 11714, whose 9th character is its own
check character) and the overall check character. Both check characters are verified.
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
    if not code[2:8].isdigit():
        raise InvalidUSCC("characters 3-8 must be the administrative division code (digits)")
    if _org_check(code[8:16]) != code[16]:
        raise InvalidUSCC("organisation code check character (17th) does not match GB 11714")
    if _check(code[:17]) != code[17]:
        raise InvalidUSCC("check character (18th) does not match GB 32100")
    return code


def make(rng: random.Random | None = None, *, division: str = "110105", kind: str = "91") -> str:
    """A valid code, for demos, fixtures and the bulk loader."""
    rng = rng or random.Random()
    org = "".join(rng.choice(_ALPHABET) for _ in range(8))
    first17 = kind + division + org + _org_check(org)
    return first17 + _check(first17)


def validate_field(value: str) -> str:
    """What the `USCC` annotation runs: `validate`, with the error worded for a model field."""
    try:
        return validate(value)
    except InvalidUSCC as exc:
        raise ValueError(f"invalid Unified Social Credit Code: {exc}") from None


USCC = Annotated[str, AfterValidator(validate_field)]
