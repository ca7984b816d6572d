"""Schemes, their default and longest validity, the schemes of the default catalogue's
fields, and the certificate number.

Certificate number (one format for every scheme, 19 characters, no separators)::

    {scheme code: 3}{year: 4}{body code: 4}{sequence: 8}     e.g. MSC20260Y4300000042

- scheme code: CCC (CCC), VPC (voluntary product), MSC (management system), SVC (service);
- year: the year the validity starts;
- body code: the last four characters of the issuing body's USCC (GB 32100 alphabet);
- sequence: 8 digits from 00000001, allocated per prefix (scheme, year, body code).

The body code is a readable hint, not an identifier: two bodies can share it, and the
number stays unique because the sequence is allocated per prefix.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from conformity_shared.errors import DomainError


class UnknownScheme(DomainError):
    def __init__(self, value: object) -> None:
        allowed = ", ".join(s.value for s in Scheme)
        super().__init__(f"scheme must be one of {allowed}, is {value!r}", "scheme")


class Scheme(StrEnum):
    CCC = "CCC"  # China Compulsory Certification (products)
    VOLUNTARY_PRODUCT = "voluntary_product"
    MANAGEMENT_SYSTEM = "management_system"
    SERVICE = "service"

    @classmethod
    def parse(cls, value: str | Scheme) -> Scheme:
        """The scheme named by its value or member name, in any case; else UnknownScheme."""
        if isinstance(value, Scheme):
            return value
        text = str(value).strip()
        for scheme in cls:
            if text.casefold() in (scheme.value.casefold(), scheme.name.casefold()):
                return scheme
        raise UnknownScheme(value)

    @property
    def code(self) -> str:
        """The three letters that open its certificate numbers."""
        return SCHEME_CODES[self]


SCHEME_CODES: Mapping[Scheme, str] = MappingProxyType(
    {
        Scheme.CCC: "CCC",
        Scheme.VOLUNTARY_PRODUCT: "VPC",
        Scheme.MANAGEMENT_SYSTEM: "MSC",
        Scheme.SERVICE: "SVC",
    }
)
_SCHEME_BY_CODE = {code: scheme for scheme, code in SCHEME_CODES.items()}

# Default validity in years. CCC 5 and management systems 3 are the design's. Voluntary
# product certificates follow CCC (5, the usual term for product certification under
# annual surveillance); service certificates follow management systems (3, the usual
# term for certification of an organisation's processes under surveillance audits).
DEFAULT_VALIDITY_YEARS: Mapping[Scheme, int] = MappingProxyType(
    {
        Scheme.CCC: 5,
        Scheme.VOLUNTARY_PRODUCT: 5,
        Scheme.MANAGEMENT_SYSTEM: 3,
        Scheme.SERVICE: 3,
    }
)
# The longest a certificate of each scheme may run: its validity period. A certificate may
# be issued for less (to end with the holder's licence, say), never for more.
MAX_VALIDITY_YEARS: Mapping[Scheme, int] = DEFAULT_VALIDITY_YEARS
DEFAULT_SUSPENSION_MONTHS = 6

# The schemes each field of approval's default catalogue admits. A grant names the schemes of
# its fields (approval.granted.v1's field_schemes); this is read only for a body whose grant
# was recorded before grants named them, so that such bodies go on issuing as that catalogue
# allows instead of all having to apply again.
_DEFAULT_FAMILIES = (
    (Scheme.CCC, ("CCC-01", "CCC-02", "CCC-03", "CCC-04", "CCC-05", "CCC-06", "CCC-07", "CCC-08", "CCC-09",
                  "CCC-10", "CCC-11", "CCC-12", "CCC-13", "CCC-19", "CCC-20", "CCC-21", "CCC-22")),
    (Scheme.MANAGEMENT_SYSTEM, ("MS-QMS", "MS-EMS", "MS-OHSMS", "MS-ISMS", "MS-FSMS")),
    (Scheme.VOLUNTARY_PRODUCT, ("VP-GEN", "VP-ORG")),
    (Scheme.SERVICE, ("SV-ASS",)),
)
DEFAULT_FIELD_SCHEMES: Mapping[str, frozenset[str]] = MappingProxyType(
    {code: frozenset({scheme.value}) for scheme, codes in _DEFAULT_FAMILIES for code in codes}
)


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later; the month's last day when it has no such day."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def default_valid_until(
    scheme: Scheme | str,
    valid_from: dt.date,
    validity_years: Mapping[Scheme, int] | None = None,
) -> dt.date:
    """The last day of validity: the day before the anniversary ``years`` later.

    A 5-year CCC certificate valid from 10 March 2026 is valid until 9 March 2031. One
    starting on 29 February ends on 28 February (its anniversary is 1 March).
    """
    scheme = Scheme.parse(scheme)
    return _eve_of_anniversary(valid_from, (validity_years or DEFAULT_VALIDITY_YEARS)[scheme])


def latest_valid_until(scheme: Scheme | str, valid_from: dt.date) -> dt.date:
    """The last day a certificate of ``scheme`` valid from ``valid_from`` may run to: the day
    before the anniversary at the scheme's longest validity (``MAX_VALIDITY_YEARS``)."""
    return _eve_of_anniversary(valid_from, MAX_VALIDITY_YEARS[Scheme.parse(scheme)])


def _eve_of_anniversary(valid_from: dt.date, years: int) -> dt.date:
    try:
        anniversary = valid_from.replace(year=valid_from.year + years)
    except ValueError:  # 29 February in a year that has none
        anniversary = dt.date(valid_from.year + years, 3, 1)
    return anniversary - dt.timedelta(days=1)


class InvalidValidity(DomainError):
    """A validity the scheme does not allow; ``rule`` names why (HTTP 422, field ``valid_until``)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message, "valid_until", [{"rule": rule, "detail": message}])
        self.rule = rule


def check_validity(scheme: Scheme | str, valid_from: dt.date, valid_until: dt.date) -> None:
    """Refuse a validity that ends on or before it starts, or runs past the scheme's longest
    validity (a CCC certificate valid from 10 March 2026 runs until 9 March 2031 at the latest)."""
    scheme = Scheme.parse(scheme)
    if valid_until <= valid_from:
        raise InvalidValidity("valid_until_not_after_valid_from",
                              f"valid_until must be after valid_from ({valid_until} is not after {valid_from})")
    latest = latest_valid_until(scheme, valid_from)
    if valid_until > latest:
        raise InvalidValidity(
            "validity_exceeds_scheme_maximum",
            f"a {scheme.value} certificate is valid for at most {MAX_VALIDITY_YEARS[scheme]} years: valid from "
            f"{valid_from}, it runs until {latest} at the latest, not {valid_until}",
        )


def validity(
    scheme: Scheme | str, today: dt.date, valid_from: dt.date | None = None, valid_until: dt.date | None = None
) -> tuple[dt.date, dt.date]:
    """The first and last day of a certificate issued ``today``: from ``valid_from`` (default
    today) until ``valid_until`` (default: the scheme's validity), within the scheme's longest
    validity (``check_validity``). A certificate whose validity has already ended is not issued."""
    valid_from = valid_from or today
    valid_until = valid_until or default_valid_until(scheme, valid_from)
    check_validity(scheme, valid_from, valid_until)
    if valid_until < today:
        raise InvalidValidity("validity_already_ended",
                              f"valid_until {valid_until} has passed: a certificate is not issued expired")
    return valid_from, valid_until


# --- the certificate number ----------------------------------------------------------


class InvalidCertificateNumber(DomainError):
    def __init__(self, message: str) -> None:
        super().__init__(message, "number")


# GB 32100's alphabet: the body code is taken from a USCC.
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_BODY = f"[{_USCC_ALPHABET}]{{4}}"
_SCHEMES = "|".join(SCHEME_CODES.values())
_PREFIX_RE = re.compile(rf"({_SCHEMES})(\d{{4}})({_BODY})")
_NUMBER_RE = re.compile(rf"({_SCHEMES})(\d{{4}})({_BODY})(\d{{8}})")
MAX_SEQUENCE = 99_999_999


def body_code(issuing_body_uscc: str) -> str:
    """The last four characters of the issuing body's USCC."""
    code = issuing_body_uscc.strip().upper()[-4:]
    if len(code) != 4 or any(c not in _USCC_ALPHABET for c in code):
        raise InvalidCertificateNumber(f"no body code can be taken from {issuing_body_uscc!r}: it is not a USCC")
    return code


def number_prefix(scheme: Scheme | str, year: int, issuing_body_uscc: str) -> str:
    """Scheme code, year and body code: the part of the number a sequence is kept for."""
    if not 1000 <= year <= 9999:
        raise InvalidCertificateNumber(f"the year must have four digits, is {year}")
    return f"{Scheme.parse(scheme).code}{year:04d}{body_code(issuing_body_uscc)}"


def certificate_number(prefix: str, sequence: int) -> str:
    """The full number: the prefix and the 8-digit sequence."""
    if not _PREFIX_RE.fullmatch(prefix):
        raise InvalidCertificateNumber(f"{prefix!r} is not a number prefix (scheme code, year, body code)")
    if not 1 <= sequence <= MAX_SEQUENCE:
        raise InvalidCertificateNumber(f"the sequence must be 1 to {MAX_SEQUENCE}, is {sequence}")
    return f"{prefix}{sequence:08d}"


@dataclass(frozen=True)
class CertificateNumber:
    """A certificate number taken apart."""

    scheme: Scheme
    year: int
    body_code: str
    sequence: int

    @classmethod
    def parse(cls, text: str) -> CertificateNumber:
        """Parse a number (surrounding spaces and lower case tolerated); else InvalidCertificateNumber."""
        match = _NUMBER_RE.fullmatch(text.strip().upper()) if isinstance(text, str) else None
        if match is None:
            raise InvalidCertificateNumber(
                f"{text!r} is not a certificate number: 3-letter scheme code, 4-digit year, "
                "4-character body code and 8-digit sequence"
            )
        code, year, body, sequence = match.groups()
        if int(sequence) == 0:
            raise InvalidCertificateNumber(f"{text!r} is not a certificate number: sequences start at 00000001")
        return cls(_SCHEME_BY_CODE[code], int(year), body, int(sequence))

    @property
    def prefix(self) -> str:
        return f"{self.scheme.code}{self.year:04d}{self.body_code}"

    def __str__(self) -> str:
        return certificate_number(self.prefix, self.sequence)


def is_valid_certificate_number(text: str) -> bool:
    try:
        CertificateNumber.parse(text)
    except InvalidCertificateNumber:
        return False
    return True
