"""Watchlists: what a subscriber wants to hear about, and the limits on them.

A subscriber watches certificates by number, every certificate of a holder or of an issuing
body (by USCC), or a whole scheme. Numbers are added and removed in bulk, up to
MAX_WATCHED_CERTIFICATES per subscriber; a number the platform has not seen is accepted (it may
be issued later, or predate the service) and reported back as unknown.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum

from conformity_shared import uscc
from conformity_shared.errors import DomainError
from conformity_shared.events import CertificationScheme

MAX_WATCHED_CERTIFICATES = 100_000
MAX_WATCHED_OTHERS = 10_000  # holders, bodies or schemes, per kind and subscriber
NUMBER = re.compile(r"^[A-Z0-9]{6,40}$")


class WatchKind(StrEnum):
    CERTIFICATE = "certificate"
    HOLDER = "holder"
    ISSUING_BODY = "issuing_body"
    SCHEME = "scheme"


def limit_of(kind: WatchKind) -> int:
    return MAX_WATCHED_CERTIFICATES if kind is WatchKind.CERTIFICATE else MAX_WATCHED_OTHERS


def _refused(index: int, value: str, rule: str, detail: str) -> DomainError:
    return DomainError(f"values[{index}] ({value[:60]!r}): {detail}", f"values[{index}]", [{"rule": rule, "detail": detail}])


def normalised(kind: WatchKind, values: Iterable[str]) -> list[str]:
    """The values in their stored form, de-duplicated in the order given; the first bad one is
    refused naming its position and rule."""
    seen: dict[str, None] = {}
    for index, raw in enumerate(values):
        value = raw.strip().upper() if kind is not WatchKind.SCHEME else raw.strip()
        if kind is WatchKind.CERTIFICATE:
            if not NUMBER.match(value):
                raise _refused(index, raw, "invalid_certificate_number",
                               "a certificate number is 6 to 40 letters and digits (e.g. MSC20260Y4300000042)")
        elif kind in (WatchKind.HOLDER, WatchKind.ISSUING_BODY):
            try:
                value = uscc.validate(value)
            except ValueError as exc:
                raise _refused(index, raw, "invalid_uscc", str(exc)) from None
        elif value not in {s.value for s in CertificationScheme}:
            schemes = ", ".join(s.value for s in CertificationScheme)
            raise _refused(index, raw, "unknown_scheme", f"a scheme is one of {schemes}")
        seen[value] = None
    return list(seen)


def check_size(kind: WatchKind, already: int, adding: int) -> None:
    """Refuse a watchlist that would grow past its limit (nothing of the request is kept)."""
    limit = limit_of(kind)
    if already + adding > limit:
        raise DomainError(
            f"a subscriber watches at most {limit:,} values of kind {kind}: {already:,} watched, {adding:,} new",
            "values", [{"rule": "watchlist_too_large", "detail": f"at most {limit} per subscriber"}],
        )
