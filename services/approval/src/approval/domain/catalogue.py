"""The catalogue of fields an applicant may request, each a certification field (for
certification bodies) or a test field (for labs), marked high or low risk; a certification
field names the certification schemes a body approved for it may issue under."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from conformity_shared.events import CertificationScheme

from approval.domain.errors import InvalidConfiguration


class Kind(StrEnum):
    CERTIFICATION_BODY = "certification_body"
    TESTING_LAB = "testing_lab"


class Risk(StrEnum):
    HIGH = "high"
    LOW = "low"


@dataclass(frozen=True)
class ScopeField:
    """One certification field (for certification bodies) or test field (for labs).

    ``schemes`` are the certification schemes a body approved for the field may issue
    certificates under: at least one for a certification field, none for a test field.
    """

    code: str
    name: str
    risk: Risk
    kind: Kind
    schemes: frozenset[CertificationScheme] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "risk", Risk(self.risk))
        object.__setattr__(self, "kind", Kind(self.kind))
        if not self.code.strip():
            raise InvalidConfiguration("a catalogue field needs a code", "catalogue")
        object.__setattr__(self, "schemes", _schemes(self.code, self.kind, self.schemes))


def _schemes(code: str, kind: Kind, named: Iterable[str]) -> frozenset[CertificationScheme]:
    """The schemes a field admits: known ones, at least one for a certification field, none for a test field."""
    if isinstance(named, str):
        named = [named]
    try:
        schemes = frozenset(CertificationScheme(s) for s in named)
    except ValueError as exc:
        allowed = ", ".join(s.value for s in CertificationScheme)
        raise InvalidConfiguration(f"field {code}: {exc} (the schemes are {allowed})", "catalogue") from None
    if kind is Kind.CERTIFICATION_BODY and not schemes:
        raise InvalidConfiguration(f"certification field {code} names the schemes it admits", "catalogue")
    if kind is Kind.TESTING_LAB and schemes:
        raise InvalidConfiguration(f"test field {code} admits no certification scheme: labs issue no certificates",
                                   "catalogue")
    return schemes


_CB, _LAB, _H, _L = Kind.CERTIFICATION_BODY, Kind.TESTING_LAB, Risk.HIGH, Risk.LOW
_CCC = frozenset({CertificationScheme.CCC})
_MS = frozenset({CertificationScheme.MANAGEMENT_SYSTEM})
_VP = frozenset({CertificationScheme.VOLUNTARY_PRODUCT})
_SV = frozenset({CertificationScheme.SERVICE})

# The default catalogue. CCC codes follow the category numbers of the CNCA compulsory
# product catalogue; the other codes are the platform's own. Risk is the regulator's
# judgement of who may use the commitment path: fields where a false declaration
# endangers life or health (electrical fire, vehicles, children, gas, explosion, food,
# medical devices) are high risk; management systems and the rest are low. CCC fields
# admit CCC certificates, management system fields management system certificates,
# voluntary product and service fields their own; test fields none.
DEFAULT_FIELDS: tuple[ScopeField, ...] = (
    ScopeField("CCC-01", "Electrical wires and cables", _H, _CB, _CCC),
    ScopeField("CCC-02", "Switches and devices for protection or connection", _H, _CB, _CCC),
    ScopeField("CCC-03", "Low-voltage electrical apparatus", _H, _CB, _CCC),
    ScopeField("CCC-04", "Small-power motors", _L, _CB, _CCC),
    ScopeField("CCC-05", "Electric tools", _H, _CB, _CCC),
    ScopeField("CCC-06", "Electric welding machines", _H, _CB, _CCC),
    ScopeField("CCC-07", "Household and similar electrical appliances", _H, _CB, _CCC),
    ScopeField("CCC-08", "Audio, video and information technology equipment", _L, _CB, _CCC),
    ScopeField("CCC-09", "Lighting apparatus", _L, _CB, _CCC),
    ScopeField("CCC-10", "Telecommunication terminal equipment", _L, _CB, _CCC),
    ScopeField("CCC-11", "Motor vehicles and safety parts", _H, _CB, _CCC),
    ScopeField("CCC-12", "Motor vehicle tyres", _H, _CB, _CCC),
    ScopeField("CCC-13", "Safety glass", _H, _CB, _CCC),
    ScopeField("CCC-19", "Decoration and renovation materials", _L, _CB, _CCC),
    ScopeField("CCC-20", "Children's products (toys, child restraint systems)", _H, _CB, _CCC),
    ScopeField("CCC-21", "Explosion-proof electrical equipment", _H, _CB, _CCC),
    ScopeField("CCC-22", "Domestic gas appliances", _H, _CB, _CCC),
    ScopeField("MS-QMS", "Quality management systems (GB/T 19001)", _L, _CB, _MS),
    ScopeField("MS-EMS", "Environmental management systems (GB/T 24001)", _L, _CB, _MS),
    ScopeField("MS-OHSMS", "Occupational health and safety management systems (GB/T 45001)", _L, _CB, _MS),
    ScopeField("MS-ISMS", "Information security management systems (GB/T 22080)", _L, _CB, _MS),
    ScopeField("MS-FSMS", "Food safety management systems and HACCP", _H, _CB, _MS),
    ScopeField("VP-GEN", "Voluntary product certification", _L, _CB, _VP),
    ScopeField("VP-ORG", "Organic products", _H, _CB, _VP),
    ScopeField("SV-ASS", "After-sales service certification", _L, _CB, _SV),
    ScopeField("TL-FOOD", "Food testing", _H, _LAB),
    ScopeField("TL-MED", "Medical device testing", _H, _LAB),
    ScopeField("TL-ELEC", "Electrical safety testing", _L, _LAB),
    ScopeField("TL-EMC", "Electromagnetic compatibility testing", _L, _LAB),
    ScopeField("TL-CHEM", "Chemical analysis of consumer products", _L, _LAB),
    ScopeField("TL-TOY", "Toy safety testing", _H, _LAB),
    ScopeField("TL-ENV", "Environmental monitoring", _L, _LAB),
)


class Catalogue:
    """The fields an applicant may request, by code. Data: build another to override."""

    def __init__(self, fields: Iterable[ScopeField]) -> None:
        by_code: dict[str, ScopeField] = {}
        for f in fields:
            if f.code in by_code:
                raise InvalidConfiguration(f"the catalogue lists field {f.code} twice", "catalogue")
            by_code[f.code] = f
        self._fields: Mapping[str, ScopeField] = MappingProxyType(by_code)

    @classmethod
    def default(cls) -> Catalogue:
        return cls(DEFAULT_FIELDS)

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]]) -> Catalogue:
        """From settings: ``[{"code": ..., "name": ..., "risk": "low", "kind": "certification_body",
        "schemes": ["management_system"]}]`` (``schemes`` only for certification fields)."""
        try:
            return cls(
                ScopeField(r["code"], r["name"], Risk(r["risk"]), Kind(r["kind"]), r.get("schemes", ()))
                for r in records
            )
        except (KeyError, ValueError) as exc:
            raise InvalidConfiguration(f"invalid catalogue record: {exc}", "catalogue") from None

    def replacing(self, *fields: ScopeField) -> Catalogue:
        """A copy where the given fields replace (or add to) those with the same code."""
        merged = dict(self._fields)
        merged.update({f.code: f for f in fields})
        return Catalogue(merged.values())

    def get(self, code: str) -> ScopeField | None:
        return self._fields.get(code)

    def __getitem__(self, code: str) -> ScopeField:
        return self._fields[code]

    def __contains__(self, code: object) -> bool:
        return code in self._fields

    def __iter__(self) -> Iterator[ScopeField]:
        return iter(self._fields.values())

    def __len__(self) -> int:
        return len(self._fields)

    def for_kind(self, kind: Kind) -> list[ScopeField]:
        return [f for f in self if f.kind == kind]

    def high_risk(self) -> list[ScopeField]:
        return [f for f in self if f.risk is Risk.HIGH]

    def schemes_of(self, codes: Iterable[str]) -> dict[str, list[str]]:
        """The schemes each of ``codes`` admits, by code (what a grant tells the certificates service)."""
        return {code: sorted(s.value for s in self[code].schemes) for code in sorted(codes)}
