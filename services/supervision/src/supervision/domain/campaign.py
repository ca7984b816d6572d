"""Campaigns: the regulator's rounds of random inspections, each drawn once.

Pure Python, no I/O, no clock: every rule receives the instant it decides at.

Lifecycle (a second draw raises ``CampaignAlreadyDrawn``, HTTP 409)::

    created --draw--> drawn

A campaign is created with its parameters (target kinds, a sampling ratio per credit class,
at least two inspectors per target) and a published seed. Lower credit, higher ratio: the
ratios may not fall from A to D, and a campaign must be able to draw something (a ratio
above zero at creation, and a target of the chosen kinds in such a class when drawn). Drawing it runs the draw
(``draw.py``) on a snapshot of the directories and opens one inspection per drawn target.
When the conflict-of-interest rules leave too few inspectors, ``DrawRefused``: nothing is
drawn and the campaign stays created, to be drawn once more inspectors are registered.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from itertools import pairwise
from types import MappingProxyType

from conformity_shared.errors import Conflict, DomainError

from supervision.domain.draw import (
    CLASS_ORDER,
    DEFAULT_RATIOS,
    MIN_INSPECTORS_PER_TARGET,
    CampaignParameters,
    DrawResult,
    InsufficientInspectors,
    Inspector,
    InvalidCampaign,
    Snapshot,
    Target,
    draw,
)

__all__ = [
    "CAMPAIGN_TRANSITIONS",
    "DEFAULT_RATIOS",
    "MIN_INSPECTORS_PER_TARGET",
    "Campaign",
    "CampaignAction",
    "CampaignAlreadyDrawn",
    "CampaignDraw",
    "CampaignDrawsNothing",
    "CampaignParameters",
    "CampaignStatus",
    "DrawRefused",
    "InvalidCampaign",
    "RatiosMustRiseAsCreditFalls",
    "check_draws_something",
    "check_ratios_rise_as_credit_falls",
]


class CampaignStatus(StrEnum):
    CREATED = "created"  # parameters and seed set, not drawn yet
    DRAWN = "drawn"  # its draw is published and its inspections opened


class CampaignAction(StrEnum):
    DRAW = "draw"


# action: (statuses it is allowed from, the status it leads to)
CAMPAIGN_TRANSITIONS: Mapping[CampaignAction, tuple[frozenset[CampaignStatus], CampaignStatus]] = MappingProxyType(
    {CampaignAction.DRAW: (frozenset({CampaignStatus.CREATED}), CampaignStatus.DRAWN)}
)

# A refused draw names this many shortfalls at most in its answer (a million targets may fall short).
SHORTFALLS_SHOWN = 100


class CampaignAlreadyDrawn(Conflict):
    """Rule: a campaign is drawn once; its published draw is never replaced."""

    def __init__(self, campaign_id: str, drawn_at: dt.datetime | None) -> None:
        when = f" at {drawn_at.isoformat()}" if drawn_at else ""
        super().__init__(
            f"campaign {campaign_id} was drawn{when}; a drawn campaign is never redrawn "
            "(create a new campaign for a new draw)",
            field="status",
        )


class DrawRefused(DomainError):
    """The conflict rules leave too few inspectors: nothing is drawn, the campaign stays open."""

    def __init__(self, campaign_id: str, error: InsufficientInspectors) -> None:
        super().__init__(f"campaign {campaign_id} not drawn: {error.message}", "inspectors", error.rules)
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


@dataclass(frozen=True)
class CampaignDraw:
    """What a draw publishes: the snapshot's canonical bytes, their SHA-256, and the result."""

    snapshot_bytes: bytes
    snapshot_hash: str
    result: DrawResult


@dataclass(frozen=True)
class Campaign:
    """A random-inspection campaign: what it draws from, with which seed, and whether it is drawn."""

    id: str
    name: str
    parameters: CampaignParameters
    seed: str
    created_at: dt.datetime
    status: CampaignStatus = CampaignStatus.CREATED
    drawn_at: dt.datetime | None = None
    snapshot_hash: str | None = None

    @classmethod
    def create(cls, id: str, name: str, parameters: CampaignParameters, seed: str, at: dt.datetime) -> Campaign:
        """A regulator opens a campaign; the draw will be a function of the published `seed`."""
        if not seed.strip():
            raise InvalidCampaign("the seed must not be blank: the draw is a function of it", "seed")
        check_ratios_rise_as_credit_falls(parameters)
        return cls(id, name, parameters, seed, at)

    def check_may_draw(self) -> None:
        """Refuse early, before the directories are read, a campaign that is drawn already."""
        allowed_from, _ = CAMPAIGN_TRANSITIONS[CampaignAction.DRAW]
        if self.status not in allowed_from:
            raise CampaignAlreadyDrawn(self.id, self.drawn_at)

    def draw(
        self,
        targets: Iterable[Target],
        inspectors: Iterable[Inspector],
        previous_assignments: Mapping[str, tuple[str, ...]],
    ) -> CampaignDraw:
        """Draw from the directories as they are now: the snapshot, its hash and the result.

        DrawRefused, naming every shortfall, when the conflict rules leave too few inspectors;
        CampaignDrawsNothing when no class sampled above zero has a target of the chosen kinds.
        """
        self.check_may_draw()
        snapshot = Snapshot(tuple(targets), tuple(inspectors), previous_assignments, self.parameters)
        check_draws_something(snapshot)
        try:
            result = draw(self.seed, snapshot)
        except InsufficientInspectors as exc:
            raise DrawRefused(self.id, exc) from None
        return CampaignDraw(snapshot.canonical_bytes, snapshot.hash, result)

    def drawn(self, published: CampaignDraw, at: dt.datetime) -> Campaign:
        """The campaign once `published` is its draw: never to be drawn again."""
        self.check_may_draw()
        _, to = CAMPAIGN_TRANSITIONS[CampaignAction.DRAW]
        return replace(self, status=to, drawn_at=at, snapshot_hash=published.snapshot_hash)
