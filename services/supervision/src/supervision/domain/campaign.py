"""Campaigns: the regulator's rounds of random inspections, drawn once, by a draw no one can steer.

Pure Python, no I/O, no clock: every rule receives the instant it decides at.

Lifecycle (``CAMPAIGN_TRANSITIONS``; a step out of its order is a 409 naming the rule)::

    created --commit (each party, until frozen)--> created
    created --freeze (regulator; every party committed; before the reveal deadline)--> frozen
    frozen  --reveal (each party, by the reveal deadline)--> frozen
    frozen  --draw (regulator; at or after the beacon is due)--> drawn
    created | frozen --cancel (regulator, with a reason)--> cancelled

A campaign names its parameters (target kinds, a sampling ratio per credit class, at least two
inspectors per target), its parties (the regulator and at least one outside observer), a
reveal deadline and a beacon: a public random value an outside institution publishes after
that deadline. Each party commits to a secret; the regulator freezes the directories into
the snapshot the draw will use, whose hash is published; the parties reveal their secrets;
once the beacon is published the regulator draws with the seed derived from the snapshot
hash, the secrets and the beacon (``draw_record.derive_seed``). A party that never reveals
is recorded as withheld and counts with an empty secret: at the moment it decides, the
beacon is unknown, so withholding changes one unknown outcome into another and picks nothing.

Lower credit, higher ratio: the ratios may not fall from A to D, and a campaign must draw
something (a ratio above zero at creation, and a target of the chosen kinds in such a class
on the frozen snapshot). When the conflict-of-interest rules leave too few inspectors for a
target that could be drawn, the snapshot is not frozen (``DrawRefused``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from itertools import pairwise
from types import MappingProxyType
from typing import Any

from conformity_shared.errors import Conflict, DomainError, Forbidden

from supervision.domain.draw import (
    CLASS_ORDER,
    DEFAULT_RATIOS,
    MIN_INSPECTORS_PER_TARGET,
    CampaignParameters,
    DrawResult,
    InsufficientInspectors,
    Inspector,
    InvalidCampaign,
    Shortfall,
    Snapshot,
    Target,
    draw,
)
from supervision.domain.draw_record import (
    COMMIT_REVEAL_BEACON,
    REGULATOR_PARTY,
    Beacon,
    DrawRecord,
    Party,
    commitment,
    derive_seed,
    secret_problem,
)

__all__ = [
    "CAMPAIGN_TRANSITIONS",
    "DEFAULT_RATIOS",
    "MIN_INSPECTORS_PER_TARGET",
    "REGULATOR_PARTY",
    "Campaign",
    "CampaignAction",
    "CampaignAlreadyDrawn",
    "CampaignDrawsNothing",
    "CampaignParameters",
    "CampaignStatus",
    "CampaignStepRefused",
    "DrawRefused",
    "Drawn",
    "Frozen",
    "InvalidCampaign",
    "NotAParty",
    "RatiosMustRiseAsCreditFalls",
    "RevealRefused",
    "check_draws_something",
    "check_enough_inspectors",
    "check_ratios_rise_as_credit_falls",
]


class CampaignStatus(StrEnum):
    CREATED = "created"  # parameters, parties, reveal deadline and beacon named; commitments come in
    FROZEN = "frozen"  # the snapshot is fixed and its hash published; reveals come in
    DRAWN = "drawn"  # its draw is published and its inspections opened
    CANCELLED = "cancelled"  # given up before its draw, with the reason


class CampaignAction(StrEnum):
    COMMIT = "commit"
    FREEZE = "freeze"
    REVEAL = "reveal"
    DRAW = "draw"
    CANCEL = "cancel"


_CREATED, _FROZEN = CampaignStatus.CREATED, CampaignStatus.FROZEN

# action: (statuses it is allowed from, the status it leads to)
CAMPAIGN_TRANSITIONS: Mapping[CampaignAction, tuple[frozenset[CampaignStatus], CampaignStatus]] = MappingProxyType(
    {
        CampaignAction.COMMIT: (frozenset({_CREATED}), _CREATED),
        CampaignAction.FREEZE: (frozenset({_CREATED}), _FROZEN),
        CampaignAction.REVEAL: (frozenset({_FROZEN}), _FROZEN),
        CampaignAction.DRAW: (frozenset({_FROZEN}), CampaignStatus.DRAWN),
        CampaignAction.CANCEL: (frozenset({_CREATED, _FROZEN}), CampaignStatus.CANCELLED),
    }
)

# action: (the rule a step out of order breaks, what the rule says)
OUT_OF_ORDER: Mapping[CampaignAction, tuple[str, str]] = MappingProxyType(
    {
        CampaignAction.COMMIT: ("commitments_before_freeze", "a party commits before the snapshot is frozen"),
        CampaignAction.FREEZE: ("freeze_once", "a campaign is frozen once, while created"),
        CampaignAction.REVEAL: ("reveal_after_freeze", "a party reveals its secret after the freeze, before the draw"),
        CampaignAction.DRAW: ("draw_after_freeze", "a campaign is drawn once its snapshot is frozen"),
        CampaignAction.CANCEL: ("cancel_before_draw", "a campaign is cancelled before it is drawn"),
    }
)

# A refused freeze names this many shortfalls at most in its answer (a million targets may fall short).
SHORTFALLS_SHOWN = 100
_COMMITMENT = re.compile(r"[0-9a-f]{64}")


# --- refusals ----------------------------------------------------------------------


class CampaignAlreadyDrawn(Conflict):
    """Rule: a campaign is drawn once; its published draw is never replaced."""

    def __init__(self, campaign_id: str, drawn_at: dt.datetime | None) -> None:
        when = f" at {drawn_at.isoformat()}" if drawn_at else ""
        message = (
            f"campaign {campaign_id} was drawn{when}; a drawn campaign is never redrawn "
            "(create a new campaign for a new draw)"
        )
        super().__init__(message, "status", [{"rule": "draw_once", "detail": message}])


class CampaignStepRefused(Conflict):
    """A step the lifecycle does not allow now: out of its order, or outside its time."""

    def __init__(self, campaign_id: str, rule: str, message: str, field: str = "status") -> None:
        message = f"campaign {campaign_id}: {message}"
        super().__init__(message, field, [{"rule": rule, "detail": message}])


class NotAParty(Forbidden):
    """Rule: only a named party commits and reveals, and only for itself."""

    def __init__(self, campaign_id: str, party: str) -> None:
        message = (
            f"{party} is not a party of campaign {campaign_id}: only a named party commits and reveals, for itself"
        )
        super().__init__(message, "party", [{"rule": "party_acts_for_itself", "detail": message}])


class RevealRefused(DomainError):
    """A secret that does not open the party's commitment, or that no secret may be."""

    def __init__(self, message: str, rule: str) -> None:
        super().__init__(message, "secret", [{"rule": rule, "detail": message}])


class DrawRefused(DomainError):
    """The conflict rules leave too few inspectors on the snapshot: it is not frozen (nor drawn)."""

    def __init__(self, campaign_id: str, error: InsufficientInspectors) -> None:
        super().__init__(f"campaign {campaign_id} not frozen: {error.message}", "inspectors", error.rules)
        self.shortfalls = error.shortfalls

    def body(self) -> dict[str, object]:
        body = super().body()
        body["failed_rules"] = self.rules[:SHORTFALLS_SHOWN]
        body["shortfall_count"] = len(self.shortfalls)
        body["shortfalls"] = [dataclasses.asdict(s) for s in self.shortfalls[:SHORTFALLS_SHOWN]]
        return body


class RatiosMustRiseAsCreditFalls(InvalidCampaign):
    """Rule: lower credit, higher ratio (DESIGN, supervision): A <= B <= C <= D."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "ratios")
        self.rules = [{"rule": "ratios_rise_as_credit_falls", "detail": message}]


class CampaignDrawsNothing(InvalidCampaign):
    """Rule: a campaign draws something: a ratio above zero on a class that has targets of its kinds."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "ratios")
        self.rules = [{"rule": "campaign_draws_something", "detail": message}]


def _invalid(message: str, field: str, rule: str) -> InvalidCampaign:
    refused = InvalidCampaign(message, field)
    refused.rules = [{"rule": rule, "detail": message}]
    return refused


# --- rules on the parameters and the snapshot ---------------------------------------------


def _ratios_text(parameters: CampaignParameters) -> str:
    return ", ".join(f"{c.value}={format(parameters.ratios[c].normalize(), 'f')}" for c in CLASS_ORDER)


def check_ratios_rise_as_credit_falls(parameters: CampaignParameters) -> None:
    """Refuse ratios that fall from A to D, and ratios that are all zero (nothing would be drawn)."""
    for better, worse in pairwise(CLASS_ORDER):
        if parameters.ratios[worse] < parameters.ratios[better]:
            raise RatiosMustRiseAsCreditFalls(
                f"lower credit, higher ratio: the ratio of class {worse.value} may not be below class "
                f"{better.value}'s ({_ratios_text(parameters)}; required A <= B <= C <= D)"
            )
    if not any(parameters.ratios.values()):
        raise CampaignDrawsNothing(f"every ratio is zero ({_ratios_text(parameters)}): the campaign would draw nothing")


def check_draws_something(snapshot: Snapshot) -> None:
    """Refuse a snapshot on which no class with a ratio above zero has a target of the chosen kinds."""
    parameters = snapshot.parameters
    sampled = {c for c in CLASS_ORDER if parameters.ratios[c] > 0}
    if any(t.credit_class in sampled and t.kind in parameters.kinds for t in snapshot.targets):
        return
    classes = ", ".join(c.value for c in CLASS_ORDER if c in sampled)
    kinds = ", ".join(sorted(k.value for k in parameters.kinds))
    raise CampaignDrawsNothing(
        f"the campaign would draw nothing: no target of the kinds {kinds} is in a class sampled above zero "
        f"({classes}; {_ratios_text(parameters)})"
    )


def check_enough_inspectors(snapshot: Snapshot) -> None:
    """Refuse a snapshot on which a target that could be drawn would lack eligible inspectors.

    Which targets are drawn depends on the seed, unknown at the freeze; so every target of the
    chosen kinds in a class sampled above zero must keep N active inspectors once those of its
    own organisation and those who inspected it in the previous campaign are set aside. Then
    the draw itself can never fall short. InsufficientInspectors names every such target.
    """
    parameters, n = snapshot.parameters, snapshot.parameters.inspectors_per_target
    active = {i.id: i for i in snapshot.inspectors if i.active}
    by_organisation = Counter(i.organisation for i in active.values())
    # With N active inspectors, only a target with a conflict can fall short: a million targets
    # are checked by one set lookup each.
    conflicted = by_organisation.keys() | snapshot.previous_assignments.keys() if len(active) >= n else None
    shortfalls = []
    for target in snapshot.targets:
        if conflicted is not None and target.id not in conflicted:
            continue
        if target.kind not in parameters.kinds or not parameters.ratios[target.credit_class]:
            continue
        same_organisation = by_organisation.get(target.id, 0)
        inspected = [i for i in snapshot.previous_assignments.get(target.id, ()) if i in active]
        eligible = len(active) - same_organisation - sum(1 for i in inspected if active[i].organisation != target.id)
        if eligible < n:
            shortfalls.append(
                Shortfall(target.id, target.kind, target.credit_class, n, len(active), eligible,
                          same_organisation, len(inspected))
            )
    if shortfalls:
        raise InsufficientInspectors(shortfalls)


def _parties(observers: Sequence[str]) -> tuple[Party, ...]:
    observers = [o.strip() for o in observers]
    if not observers:
        raise _invalid("a campaign names at least one outside observer (a notary office, the discipline-"
                       "inspection office) besides the regulator", "observers", "outside_observer_named")
    if any(not o or o == REGULATOR_PARTY for o in observers) or len(set(observers)) != len(observers):
        raise _invalid(f"observers are distinct ids, none blank and none {REGULATOR_PARTY!r}", "observers",
                       "observers_distinct")
    return tuple(Party(p) for p in sorted({REGULATOR_PARTY, *observers}))


def _in_utc(name: str, instant: dt.datetime) -> dt.datetime:
    if instant.tzinfo is None:
        raise _invalid(f"{name} names its UTC offset (an aware instant)", name, "aware_instant")
    try:
        return instant.astimezone(dt.UTC)
    except OverflowError:
        raise _invalid(f"{name} {instant.isoformat()} has no UTC instant", name, "aware_instant") from None


def _check_schedule(reveal_deadline: dt.datetime, beacon_due: dt.datetime, at: dt.datetime) -> None:
    if reveal_deadline <= at:
        raise _invalid(f"the reveal deadline {reveal_deadline.isoformat()} has passed", "reveal_deadline",
                       "reveal_deadline_ahead")
    if beacon_due <= reveal_deadline:
        raise _invalid("the beacon is due after the reveal deadline, so no one knows it when deciding to reveal",
                       "beacon_due", "beacon_after_reveal_deadline")


# --- what a freeze and a draw produce -------------------------------------------------------


@dataclass(frozen=True)
class Frozen:
    """A frozen campaign and the snapshot's canonical bytes, whose SHA-256 is its snapshot hash."""

    campaign: Campaign
    snapshot_bytes: bytes


@dataclass(frozen=True)
class Drawn:
    """A drawn campaign and its result (drawn with the campaign's derived seed)."""

    campaign: Campaign
    result: DrawResult


# --- the campaign --------------------------------------------------------------------


@dataclass(frozen=True)
class Campaign:
    """A random-inspection campaign, its parties' commitments and reveals, its snapshot and its draw.

    A campaign drawn before commit-reveal has no parties, no deadline and no beacon, and its seed
    was published at creation (`seed_scheme` published-seed-v1).
    """

    id: str
    name: str
    parameters: CampaignParameters
    created_at: dt.datetime
    parties: tuple[Party, ...] = ()
    reveal_deadline: dt.datetime | None = None
    beacon: Beacon | None = None
    status: CampaignStatus = CampaignStatus.CREATED
    seed_scheme: str = COMMIT_REVEAL_BEACON
    frozen_at: dt.datetime | None = None
    snapshot_hash: str | None = None
    seed: str | None = None  # derived when drawn
    drawn_at: dt.datetime | None = None
    cancelled_at: dt.datetime | None = None
    cancel_reason: str | None = None

    @classmethod
    def create(
        cls,
        id: str,
        name: str,
        parameters: CampaignParameters,
        observers: Sequence[str],
        reveal_deadline: dt.datetime,
        beacon_source: str,
        beacon_due: dt.datetime,
        at: dt.datetime,
    ) -> Campaign:
        """A regulator opens a campaign naming its parties, its reveal deadline and its beacon."""
        check_ratios_rise_as_credit_falls(parameters)
        parties = _parties(observers)
        reveal_deadline, beacon_due = _in_utc("reveal_deadline", reveal_deadline), _in_utc("beacon_due", beacon_due)
        _check_schedule(reveal_deadline, beacon_due, at)
        if not beacon_source.strip():
            raise _invalid("name the beacon: which institution publishes which random value, and when",
                           "beacon_source", "beacon_named")
        return cls(id, name, parameters, at, parties, reveal_deadline, Beacon(beacon_source.strip(), beacon_due))

    # --- the parties ---

    def party(self, party_id: str) -> Party:
        """The named party `party_id`; NotAParty (403) for anyone else."""
        for party in self.parties:
            if party.id == party_id:
                return party
        raise NotAParty(self.id, party_id)

    def _with_party(self, changed: Party) -> tuple[Party, ...]:
        return tuple(changed if p.id == changed.id else p for p in self.parties)

    @property
    def withheld(self) -> tuple[str, ...]:
        return tuple(p.id for p in self.parties if p.withheld)

    # --- the steps ---

    def check_may(self, action: CampaignAction) -> None:
        """Refuse a step out of its order (before any directory is read)."""
        allowed_from, _ = CAMPAIGN_TRANSITIONS[action]
        if self.status in allowed_from:
            return
        if action is CampaignAction.DRAW and self.status is CampaignStatus.DRAWN:
            raise CampaignAlreadyDrawn(self.id, self.drawn_at)
        rule, says = OUT_OF_ORDER[action]
        raise CampaignStepRefused(self.id, rule, f"it is {self.status}: {says}")

    def commit(self, party_id: str, value: str, at: dt.datetime) -> Campaign:
        """`party_id` commits to its secret (replacing its earlier commitment while not frozen)."""
        party = self.party(party_id)
        self.check_may(CampaignAction.COMMIT)
        value = value.strip().lower()
        if not _COMMITMENT.fullmatch(value):
            raise DomainError("a commitment is the lowercase hex SHA-256 of UTF-8(party) 0x00 UTF-8(secret)",
                              "commitment", [{"rule": "commitment_is_sha256_hex", "detail": value[:80]}])
        if any(p.id != party_id and p.commitment == value for p in self.parties):
            raise CampaignStepRefused(self.id, "commitment_unique", "another party committed to this very value: "
                                      "each party commits to its own secret", "commitment")
        return replace(self, parties=self._with_party(replace(party, commitment=value, committed_at=at)))

    def freeze(
        self,
        targets: Iterable[Target],
        inspectors: Iterable[Inspector],
        previous_assignments: Mapping[str, tuple[str, ...]],
        at: dt.datetime,
    ) -> Frozen:
        """Fix the directories as they are now into the snapshot the draw will use.

        Refused until every party has committed, at or after the reveal deadline, when the
        campaign would draw nothing, and when a target that could be drawn lacks inspectors.
        """
        self.check_may(CampaignAction.FREEZE)
        if missing := [p.id for p in self.parties if p.commitment is None]:
            raise CampaignStepRefused(self.id, "every_party_commits_before_freeze",
                                      f"not frozen until every party has committed; missing: {', '.join(missing)}")
        assert self.reveal_deadline is not None  # every commit-reveal campaign has one
        if at >= self.reveal_deadline:
            raise CampaignStepRefused(self.id, "freeze_before_reveal_deadline", "the reveal deadline has passed: "
                                      "the campaign can no longer be frozen and drawn, only cancelled")
        snapshot = Snapshot(tuple(targets), tuple(inspectors), previous_assignments, self.parameters)
        check_draws_something(snapshot)
        try:
            check_enough_inspectors(snapshot)
        except InsufficientInspectors as exc:
            raise DrawRefused(self.id, exc) from None
        data = snapshot.canonical_bytes
        _, to = CAMPAIGN_TRANSITIONS[CampaignAction.FREEZE]
        frozen = replace(self, status=to, frozen_at=at, snapshot_hash=hashlib.sha256(data).hexdigest())
        return Frozen(frozen, data)

    def reveal(self, party_id: str, secret: str, at: dt.datetime) -> Campaign:
        """`party_id` reveals its secret, which must open its commitment, by the reveal deadline."""
        party = self.party(party_id)
        self.check_may(CampaignAction.REVEAL)
        if party.secret is not None:
            raise CampaignStepRefused(self.id, "reveal_once", f"{party_id} revealed its secret already")
        assert self.reveal_deadline is not None  # every commit-reveal campaign has one
        if at > self.reveal_deadline:
            raise CampaignStepRefused(self.id, "reveal_by_the_deadline",
                                      f"the reveal deadline {self.reveal_deadline.isoformat()} has passed", "secret")
        if problem := secret_problem(secret):
            raise RevealRefused(problem, "secret_form")
        if commitment(party_id, secret) != party.commitment:
            raise RevealRefused(
                f"the secret does not match the commitment {party_id} made", "reveal_does_not_match_commitment"
            )
        return replace(self, parties=self._with_party(replace(party, secret=secret, revealed_at=at)))

    def check_may_draw(self, at: dt.datetime) -> None:
        """Refuse a draw out of order, or before the beacon is published (its due time)."""
        self.check_may(CampaignAction.DRAW)
        assert self.beacon is not None  # every commit-reveal campaign has one
        if at < self.beacon.due:
            raise CampaignStepRefused(self.id, "draw_after_beacon_due",
                                      f"the beacon is due at {self.beacon.due.isoformat()}; draw once it is published")

    def draw(self, snapshot_bytes: bytes, beacon_value: str, at: dt.datetime) -> Drawn:
        """Draw on the frozen snapshot with the seed derived from its hash, the secrets and the beacon.

        Every party that has not revealed is recorded as withheld and counts with an empty secret.
        """
        self.check_may_draw(at)
        beacon_value = beacon_value.strip()
        if not beacon_value:
            raise DomainError("the beacon's published value is required to derive the seed", "beacon_value",
                              [{"rule": "beacon_value_given", "detail": "blank"}])
        snapshot = Snapshot.from_json(snapshot_bytes)
        if snapshot.hash != self.snapshot_hash:
            raise RuntimeError(f"campaign {self.id}: the stored snapshot no longer hashes to {self.snapshot_hash}")
        parties = tuple(replace(p, withheld=p.secret is None) for p in self.parties)
        seed = derive_seed(snapshot.hash, {p.id: p.secret or "" for p in parties}, beacon_value)
        try:
            result = draw(seed, snapshot)
        except InsufficientInspectors as exc:  # kept from the freeze's check; here only for safety
            raise DrawRefused(self.id, exc) from None
        assert self.beacon is not None
        _, to = CAMPAIGN_TRANSITIONS[CampaignAction.DRAW]
        beacon = replace(self.beacon, value=beacon_value, recorded_at=at)
        return Drawn(replace(self, status=to, parties=parties, beacon=beacon, seed=seed, drawn_at=at), result)

    def cancel(self, reason: str, at: dt.datetime) -> Campaign:
        """The regulator gives the campaign up before its draw, saying why (published)."""
        self.check_may(CampaignAction.CANCEL)
        if not reason.strip():
            raise DomainError("a cancellation states its reason; it is published", "reason",
                              [{"rule": "cancel_reason_required", "detail": "blank"}])
        _, to = CAMPAIGN_TRANSITIONS[CampaignAction.CANCEL]
        return replace(self, status=to, cancelled_at=at, cancel_reason=reason.strip())

    def record(self, result: Mapping[str, Any] | None = None) -> DrawRecord:
        """The public record as it stands: parties, commitments, freeze, reveals, beacon, seed, result."""
        return DrawRecord(
            seed_scheme=self.seed_scheme, parties=self.parties, frozen_at=self.frozen_at,
            snapshot_hash=self.snapshot_hash, reveal_deadline=self.reveal_deadline, beacon=self.beacon,
            seed=self.seed, result=result,
        )
