"""The "double random" draw: which targets are inspected, and by whom.

The draw is a pure function of a published seed and a published snapshot of everything
it depends on (the target and inspector directories, the previous campaign's
assignments and the campaign parameters), so that anyone can re-run it and check the
published result. DRAW.md states the algorithm precisely enough to re-implement it in
another language; this module is the reference implementation.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from functools import cached_property
from json.encoder import encode_basestring as _q  # the escaper json.dumps itself uses
from operator import attrgetter

from conformity_shared.errors import DomainError
from conformity_shared.events import CreditClass, OrganisationKind

SNAPSHOT_FORMAT = "supervision.draw-snapshot.v1"
RESULT_FORMAT = "supervision.draw-result.v1"
ALGORITHM = "sha256-counter-v1"

CLASS_ORDER: tuple[CreditClass, ...] = (CreditClass.A, CreditClass.B, CreditClass.C, CreditClass.D)

# Lower credit, higher ratio (DESIGN, supervision). Strings, so the ratios are exact.
DEFAULT_RATIOS: Mapping[CreditClass, Decimal] = {
    CreditClass.A: Decimal("0.05"),
    CreditClass.B: Decimal("0.2"),
    CreditClass.C: Decimal("0.6"),
    CreditClass.D: Decimal("1"),
}
MIN_INSPECTORS_PER_TARGET = 2

_TWO_64 = 1 << 64


# --- errors ------------------------------------------------------------------------


class InvalidCampaign(DomainError):
    """Campaign parameters the rules refuse (ratios, kinds, inspectors per target)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message, field, [{"rule": "campaign_parameters", "detail": message}])


class InvalidSnapshot(DomainError):
    """A snapshot that cannot be drawn from: duplicate ids, an unknown format."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "snapshot", [{"rule": "snapshot", "detail": message}])


@dataclass(frozen=True)
class Shortfall:
    """One drawn target for which the conflict rules leave too few eligible inspectors."""

    target_id: str
    kind: OrganisationKind
    credit_class: CreditClass
    required: int
    active: int
    eligible: int
    same_organisation: int
    previous_campaign: int

    def describe(self) -> str:
        return (
            f"target {self.target_id} ({self.kind}, class {self.credit_class}) needs "
            f"{self.required} inspectors but only {self.eligible} of {self.active} active "
            f"inspectors are eligible ({self.same_organisation} excluded as the target's own "
            f"organisation, {self.previous_campaign} excluded for inspecting it in the "
            f"previous campaign)"
        )


class InsufficientInspectors(DomainError):
    """The conflict-of-interest rules leave too few inspectors: no partial draw is made."""

    def __init__(self, shortfalls: Iterable[Shortfall]) -> None:
        self.shortfalls = tuple(shortfalls)
        shown = [s.describe() for s in self.shortfalls[:10]]
        more = len(self.shortfalls) - len(shown)
        message = (
            "draw refused, too few eligible inspectors (rule: each drawn target gets "
            "inspectors without a conflict of interest): " + "; ".join(shown)
        )
        if more:
            message += f"; and {more} more targets"
        super().__init__(
            message,
            "inspectors",
            [{"rule": "inspectors_without_conflict", "detail": s.describe()} for s in self.shortfalls],
        )


# --- directories and parameters ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """An inspection target; `id` is its Unified Social Credit Code (validated on entry)."""

    id: str
    kind: OrganisationKind
    name: str
    credit_class: CreditClass

    def __post_init__(self) -> None:
        if type(self.kind) is not OrganisationKind:
            object.__setattr__(self, "kind", OrganisationKind(self.kind))
        if type(self.credit_class) is not CreditClass:
            object.__setattr__(self, "credit_class", CreditClass(self.credit_class))


@dataclass(frozen=True, slots=True)
class Inspector:
    """A registered inspector; `organisation` is the USCC of the organisation they work for."""

    id: str
    name: str
    organisation: str
    region: str
    active: bool = True


def _ratio(value: object, credit_class: CreditClass) -> Decimal:
    # Floats go through their shortest repr, so 0.07 means exactly 7/100, as typed.
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
        raise InvalidCampaign(f"ratio for class {credit_class} must be a decimal number", "ratios")
    try:
        ratio = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        raise InvalidCampaign(f"ratio for class {credit_class} is not a number: {value!r}", "ratios") from None
    if not ratio.is_finite() or not Decimal(0) <= ratio <= Decimal(1):
        raise InvalidCampaign(f"ratio for class {credit_class} must lie between 0 and 1, is {value}", "ratios")
    return ratio


def _decimal_text(value: Decimal) -> str:
    return format(value.normalize(), "f")


@dataclass(frozen=True)
class CampaignParameters:
    """What a campaign draws: target kinds, a sampling ratio per credit class, N inspectors."""

    kinds: frozenset[OrganisationKind]
    ratios: Mapping[CreditClass, Decimal] = field(default_factory=lambda: dict(DEFAULT_RATIOS))
    inspectors_per_target: int = MIN_INSPECTORS_PER_TARGET

    def __post_init__(self) -> None:
        if isinstance(self.kinds, str):
            raise InvalidCampaign("kinds must be a collection of target kinds", "kinds")
        try:
            kinds = frozenset(OrganisationKind(k) for k in self.kinds)
        except ValueError as exc:
            raise InvalidCampaign(f"unknown target kind: {exc}", "kinds") from None
        if not kinds:
            raise InvalidCampaign("a campaign draws from at least one target kind", "kinds")
        given = {CreditClass(c): r for c, r in self.ratios.items()}
        missing = [c.value for c in CLASS_ORDER if c not in given]
        if missing:
            raise InvalidCampaign(
                f"a ratio is required for every credit class, missing: {', '.join(missing)}", "ratios"
            )
        ratios = {c: _ratio(given[c], c) for c in CLASS_ORDER}
        n = self.inspectors_per_target
        if isinstance(n, bool) or not isinstance(n, int) or n < MIN_INSPECTORS_PER_TARGET:
            raise InvalidCampaign(
                f"at least {MIN_INSPECTORS_PER_TARGET} inspectors per target are required, got {n!r}",
                "inspectors_per_target",
            )
        object.__setattr__(self, "kinds", kinds)
        object.__setattr__(self, "ratios", ratios)

    def sample_size(self, credit_class: CreditClass, population: int) -> int:
        """The rounding rule: ceil(ratio x population), computed exactly.

        Any ratio above 0 on a non-empty class draws at least one target; 1 draws all.
        """
        ratio = Fraction(self.ratios[credit_class])
        return -(-(ratio.numerator * population) // ratio.denominator)


# --- the snapshot ------------------------------------------------------------------


def _sorted_unique(items: Iterable, what: str) -> tuple:
    ordered = tuple(sorted(items, key=attrgetter("id")))
    ids = [item.id for item in ordered]
    if len(set(ids)) != len(ids):
        duplicate = next(a for a, b in zip(ids, ids[1:]) if a == b)
        raise InvalidSnapshot(f"duplicate {what} id {duplicate} in the snapshot")
    return ordered


@dataclass(frozen=True)
class Snapshot:
    """Everything the draw depends on. Entries are kept sorted by id (code point order)."""

    targets: tuple[Target, ...]
    inspectors: tuple[Inspector, ...]
    previous_assignments: Mapping[str, tuple[str, ...]]
    parameters: CampaignParameters

    def __post_init__(self) -> None:
        object.__setattr__(self, "targets", _sorted_unique(self.targets, "target"))
        object.__setattr__(self, "inspectors", _sorted_unique(self.inspectors, "inspector"))
        previous: dict[str, tuple[str, ...]] = {}
        for target_id, inspector_ids in sorted(self.previous_assignments.items()):
            if isinstance(inspector_ids, str):
                raise InvalidSnapshot(f"previous assignment of {target_id} must list inspector ids")
            ids = tuple(sorted(set(inspector_ids)))
            if ids:  # an empty entry means nothing; dropping it keeps the hash canonical
                previous[target_id] = ids
        object.__setattr__(self, "previous_assignments", previous)

    def canonical_chunks(self, batch: int = 20_000) -> Iterator[bytes]:
        """The canonical bytes in pieces, so a million targets hash without one huge string."""
        # Rows are formatted by hand with their keys in sorted order, and strings escaped by
        # the json module's own escaper: the bytes equal json.dumps(document, sort_keys=True,
        # separators=(",", ":"), ensure_ascii=False), four times faster (a test checks it).
        p = self.parameters
        parameters = {
            "inspectors_per_target": p.inspectors_per_target,
            "kinds": sorted(p.kinds),
            "ratios": {c.value: _decimal_text(p.ratios[c]) for c in CLASS_ORDER},
        }
        head = json.dumps(SNAPSHOT_FORMAT)
        yield f'{{"format":{head},"inspectors":['.encode()
        yield ",".join(
            f'{{"active":{"true" if i.active else "false"},"id":{_q(i.id)},"name":{_q(i.name)},'
            f'"organisation":{_q(i.organisation)},"region":{_q(i.region)}}}'
            for i in self.inspectors
        ).encode()
        yield f'],"parameters":{json.dumps(parameters, separators=(",", ":"), sort_keys=True)},'.encode()
        yield b'"previous_assignments":['
        entries = list(self.previous_assignments.items())
        for start in range(0, len(entries), batch):
            rows = ",".join(
                f'{{"inspectors":[{",".join(map(_q, ids))}],"target":{_q(t)}}}'
                for t, ids in entries[start : start + batch]
            )
            yield (("," if start else "") + rows).encode("utf-8")
        yield b'],"targets":['
        targets = self.targets
        for start in range(0, len(targets), batch):
            rows = ",".join(
                f'{{"credit_class":"{t.credit_class}","id":{_q(t.id)},"kind":"{t.kind}","name":{_q(t.name)}}}'
                for t in targets[start : start + batch]
            )
            yield (("," if start else "") + rows).encode("utf-8")
        yield b"]}"

    @property
    def canonical_bytes(self) -> bytes:
        """Canonical JSON: sorted keys, entries sorted by id, no whitespace, UTF-8."""
        return b"".join(self.canonical_chunks())

    @cached_property
    def hash(self) -> str:
        """SHA-256 (hex) of the canonical bytes."""
        digest = hashlib.sha256()
        for chunk in self.canonical_chunks():
            digest.update(chunk)
        return digest.hexdigest()

    @classmethod
    def from_json(cls, data: bytes | str) -> Snapshot:
        """Read a published snapshot (its canonical bytes) back."""
        try:
            doc = json.loads(data)
            if doc.get("format") != SNAPSHOT_FORMAT:
                raise InvalidSnapshot(f"not a {SNAPSHOT_FORMAT} document: format {doc.get('format')!r}")
            p = doc["parameters"]
            return cls(
                targets=tuple(Target(t["id"], t["kind"], t["name"], t["credit_class"]) for t in doc["targets"]),
                inspectors=tuple(
                    Inspector(i["id"], i["name"], i["organisation"], i["region"], i["active"])
                    for i in doc["inspectors"]
                ),
                previous_assignments={e["target"]: tuple(e["inspectors"]) for e in doc["previous_assignments"]},
                parameters=CampaignParameters(
                    kinds=frozenset(p["kinds"]),
                    ratios={CreditClass(c): Decimal(r) for c, r in p["ratios"].items()},
                    inspectors_per_target=p["inspectors_per_target"],
                ),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidSnapshot(f"malformed snapshot document: {exc!r}") from None


def snapshot_hash(snapshot: Snapshot) -> str:
    """SHA-256 (hex) of the snapshot's canonical bytes: what is published before the seed."""
    return snapshot.hash


# --- the random stream -------------------------------------------------------------


class _Stream:
    """A named stream of uniform integers from SHA-256 in counter mode.

    Word i of stream `label` is the first 8 bytes (big-endian) of
    SHA-256(key || UTF-8(label) || 0x00 || uint64be(i)); uniform(n) rejects words at or
    above the largest multiple of n below 2^64 so that every value is equally likely.
    Hand-written rather than random.Random because it needs nothing but SHA-256 to re-run
    in any language, and no library version can change it.
    """

    def __init__(self, key: bytes, label: str) -> None:
        self._prefix = key + label.encode("utf-8") + b"\x00"
        self._counter = 0

    def uniform(self, n: int) -> int:
        limit = _TWO_64 - _TWO_64 % n
        prefix, sha256 = self._prefix, hashlib.sha256
        while True:
            word = int.from_bytes(sha256(prefix + self._counter.to_bytes(8, "big")).digest()[:8], "big")
            self._counter += 1
            if word < limit:
                return word % n

    def shuffle_prefix(self, items: list, k: int) -> None:
        """Forward Fisher-Yates for positions 0..k-1: items[:k] becomes a uniform k-sample."""
        n = len(items)
        for i in range(k):
            j = i + self.uniform(n - i)
            items[i], items[j] = items[j], items[i]


def stream_key(seed: str, snapshot_hash_hex: str) -> bytes:
    """SHA-256(UTF-8(seed) || ASCII(snapshot hash hex)): the root of every random choice."""
    return hashlib.sha256(seed.encode("utf-8") + snapshot_hash_hex.encode("ascii")).digest()


# --- the result --------------------------------------------------------------------


@dataclass(frozen=True)
class ClassCount:
    credit_class: CreditClass
    population: int
    ratio: Decimal
    drawn: int


@dataclass(frozen=True)
class DrawnTarget:
    target_id: str
    kind: OrganisationKind
    credit_class: CreditClass
    inspector_ids: tuple[str, ...]  # sorted


@dataclass(frozen=True)
class DrawResult:
    """A published draw: drawn targets (sorted by id) with their inspectors, and the counts."""

    seed: str
    snapshot_hash: str
    counts: tuple[ClassCount, ...]
    targets: tuple[DrawnTarget, ...]
    algorithm: str = ALGORITHM

    def assignments(self) -> dict[str, tuple[str, ...]]:
        """Target id -> inspector ids: the next campaign's `previous_assignments`."""
        return {t.target_id: t.inspector_ids for t in self.targets}

    def to_json(self) -> bytes:
        """Canonical JSON of the result, for publication next to the snapshot."""
        doc = {
            "algorithm": self.algorithm,
            "counts": [
                {
                    "credit_class": c.credit_class.value,
                    "drawn": c.drawn,
                    "population": c.population,
                    "ratio": _decimal_text(c.ratio),
                }
                for c in self.counts
            ],
            "format": RESULT_FORMAT,
            "seed": self.seed,
            "snapshot_hash": self.snapshot_hash,
            "targets": [
                {
                    "credit_class": t.credit_class.value,
                    "id": t.target_id,
                    "inspectors": list(t.inspector_ids),
                    "kind": t.kind.value,
                }
                for t in self.targets
            ],
        }
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes | str) -> DrawResult:
        doc = json.loads(data)
        if doc.get("format") != RESULT_FORMAT:
            raise ValueError(f"not a {RESULT_FORMAT} document: format {doc.get('format')!r}")
        return cls(
            seed=doc["seed"],
            snapshot_hash=doc["snapshot_hash"],
            algorithm=doc["algorithm"],
            counts=tuple(
                ClassCount(CreditClass(c["credit_class"]), c["population"], Decimal(c["ratio"]), c["drawn"])
                for c in doc["counts"]
            ),
            targets=tuple(
                DrawnTarget(
                    t["id"], OrganisationKind(t["kind"]), CreditClass(t["credit_class"]), tuple(t["inspectors"])
                )
                for t in doc["targets"]
            ),
        )


# --- the draw ----------------------------------------------------------------------


def _draw_targets(key: bytes, snapshot: Snapshot) -> tuple[list[Target], list[ClassCount]]:
    params = snapshot.parameters
    by_class: dict[CreditClass, list[Target]] = {c: [] for c in CLASS_ORDER}
    for target in snapshot.targets:  # already sorted by id, so every class list is too
        if target.kind in params.kinds:
            by_class[target.credit_class].append(target)
    drawn: list[Target] = []
    counts: list[ClassCount] = []
    for credit_class in CLASS_ORDER:
        population = by_class[credit_class]
        k = params.sample_size(credit_class, len(population))
        if k < len(population):  # k == n takes the whole class and consumes no randomness
            _Stream(key, f"targets/{credit_class.value}").shuffle_prefix(population, k)
        drawn.extend(population[:k])
        counts.append(ClassCount(credit_class, len(population), params.ratios[credit_class], k))
    drawn.sort(key=attrgetter("id"))
    return drawn, counts


def _assign(key: bytes, snapshot: Snapshot, drawn: list[Target]) -> list[tuple[str, ...]]:
    """Each drawn target's inspectors (ids sorted), in the order of `drawn`."""
    n = snapshot.parameters.inspectors_per_target
    active = [i for i in snapshot.inspectors if i.active]  # inactive inspectors are never drawn
    exclusions = _exclusions(snapshot, drawn, active, n)
    deal = _Deal(key, len(active))
    return [tuple(sorted(active[k].id for k in deal.take(n, excluded))) for excluded in exclusions]


def _exclusions(
    snapshot: Snapshot, drawn: list[Target], active: list[Inspector], n: int
) -> list[frozenset[int]]:
    """Per drawn target, the positions in `active` the conflict rules exclude.

    Raises InsufficientInspectors naming every target left with fewer than n eligible.
    """
    index = {inspector.id: k for k, inspector in enumerate(active)}
    by_organisation: dict[str, list[int]] = {}
    for k, inspector in enumerate(active):
        by_organisation.setdefault(inspector.organisation, []).append(k)
    previous = snapshot.previous_assignments

    # Exclusion sets are small per target, so this is O(drawn), never O(drawn x inspectors).
    exclusions: list[frozenset[int]] = []
    shortfalls: list[Shortfall] = []
    nobody: frozenset[int] = frozenset()
    for target in drawn:
        same_org = by_organisation.get(target.id, ())
        earlier = previous.get(target.id)
        if not same_org and not earlier and len(active) >= n:  # the common case, kept cheap
            exclusions.append(nobody)
            continue
        inspected = {index[i] for i in earlier or () if i in index}
        excluded = frozenset(same_org).union(inspected)
        eligible = len(active) - len(excluded)
        if eligible < n:
            shortfalls.append(
                Shortfall(
                    target.id, target.kind, target.credit_class, n, len(active), eligible, len(same_org), len(inspected)
                )
            )
        exclusions.append(excluded)
    if shortfalls:
        raise InsufficientInspectors(shortfalls)
    return exclusions


class _Deal:
    """Load balancing: inspectors are dealt from rounds, each a fresh shuffle of all active
    inspectors; every position is dealt once, so loads differ by at most about one."""

    def __init__(self, key: bytes, inspectors: int) -> None:
        self._stream = _Stream(key, "inspectors")
        self._inspectors = inspectors
        self._queue: list[int] = []
        self._dealt = bytearray()
        self._head = 0

    def take(self, n: int, excluded: frozenset[int]) -> list[int]:
        """The next n undealt positions whose inspectors are not excluded, each inspector once."""
        queue, dealt = self._queue, self._dealt
        picked: list[int] = []
        position = self._head
        rounds_added = 0
        while len(picked) < n:
            if position == len(queue):
                # One fresh round holds every eligible inspector, and the exclusion check made
                # sure there are at least n; a second round would mean a bug, not a loop.
                rounds_added += 1
                assert rounds_added == 1, "inspector deal found too few eligible inspectors"
                self._add_round()
            if not dealt[position]:
                candidate = queue[position]
                if candidate not in excluded and candidate not in picked:
                    picked.append(candidate)
                    dealt[position] = 1
            position += 1
        self._skip_dealt()
        return picked

    def _add_round(self) -> None:
        round_ = list(range(self._inspectors))
        self._stream.shuffle_prefix(round_, len(round_) - 1)
        self._queue.extend(round_)
        self._dealt.extend(bytes(len(round_)))

    def _skip_dealt(self) -> None:
        queue, dealt, head = self._queue, self._dealt, self._head
        while head < len(queue) and dealt[head]:
            head += 1
        if head > 1 << 16:  # drop the dealt prefix so the queue stays small
            del queue[:head]
            del dealt[:head]
            head = 0
        self._head = head


def draw(seed: str, snapshot: Snapshot) -> DrawResult:
    """Draw targets per credit class and assign inspectors without conflict of interest.

    A pure function of the published seed and snapshot (DRAW.md): per class,
    ceil(ratio x population) targets of the chosen kinds are drawn; each drawn target gets
    `inspectors_per_target` distinct active inspectors, none from the target's own
    organisation nor any who inspected it in the previous campaign. If the rules leave
    too few inspectors for any drawn target, InsufficientInspectors is raised and nothing
    is drawn.
    """
    if not isinstance(seed, str) or not seed:
        raise InvalidCampaign("the draw needs a published, non-empty seed", "seed")
    digest = snapshot.hash
    key = stream_key(seed, digest)
    drawn, counts = _draw_targets(key, snapshot)
    inspectors = _assign(key, snapshot, drawn)
    return DrawResult(
        seed=seed,
        snapshot_hash=digest,
        counts=tuple(counts),
        targets=tuple(
            DrawnTarget(t.id, t.kind, t.credit_class, ids) for t, ids in zip(drawn, inspectors, strict=True)
        ),
    )


# --- verification ------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    """The outcome of re-running a published draw; truthy when it reproduces exactly."""

    ok: bool
    snapshot_hash: str
    differences: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.ok


def _listed(ids: Iterable[str], limit: int = 5) -> str:
    ids = sorted(ids)
    return ", ".join(ids[:limit]) + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def _counted(counts: Iterable[ClassCount]) -> str:
    return ", ".join(f"{c.credit_class.value} {c.drawn}/{c.population} at {_decimal_text(c.ratio)}" for c in counts)


def verify(seed: str, snapshot: Snapshot, published: DrawResult | bytes | str) -> Verification:
    """Re-run the draw from the seed and snapshot and compare it with a published result."""
    if not isinstance(published, DrawResult):
        published = DrawResult.from_json(published)
    digest = snapshot.hash
    differences: list[str] = []
    if published.snapshot_hash != digest:
        differences.append(
            f"published result names snapshot {published.snapshot_hash}, this snapshot hashes to {digest}"
        )
    if published.seed != seed:
        differences.append(f"published result was drawn with seed {published.seed!r}, not {seed!r}")
    if published.algorithm != ALGORITHM:
        differences.append(f"published result uses algorithm {published.algorithm!r}, this is {ALGORITHM!r}")
    try:
        expected = draw(seed, snapshot)
    except DomainError as exc:
        differences.append(f"the draw cannot be re-run on this snapshot: {exc}")
        return Verification(False, digest, tuple(differences))

    if published.counts != expected.counts:
        differences.append(
            f"per-class counts (drawn/population) differ: published {_counted(published.counts)}, "
            f"re-run {_counted(expected.counts)}"
        )
    got, want = published.assignments(), expected.assignments()
    if missing := want.keys() - got.keys():
        differences.append(f"drawn targets missing from the published result: {_listed(missing)}")
    if extra := got.keys() - want.keys():
        differences.append(f"published targets the re-run did not draw: {_listed(extra)}")
    if reassigned := [t for t in want.keys() & got.keys() if want[t] != got[t]]:
        differences.append(f"inspectors differ for targets: {_listed(reassigned)}")
    if not differences and published != expected:  # kind or class of a drawn target
        differences.append("published result differs from the re-run in target details")
    return Verification(not differences, digest, tuple(differences))
