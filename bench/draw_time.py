"""Draw time: the "double random" draw over 1,000,000 targets and 5,000 inspectors (the
directories of tests/draw_scale_check.py: a third of the targets inspected in the previous
campaign, inspectors employed by some targets).

Platform: what a campaign's freeze and draw compute, in this process, walked as the parties
would (the regulator and an observer commit, the regulator freezes, both reveal, the beacon
comes): the freeze builds the canonical snapshot (sorted, validated), checks that every target
that could be drawn keeps enough eligible inspectors and hashes it; the draw reads the frozen
bytes back, derives the seed and runs `draw` (targets per credit class, then inspectors
without conflict of interest, all from SHA-256 counter streams so anyone can re-run it).

Baseline: the least a draw of the same size must do, without the reproducibility: sort the
targets, serialise them with json.dumps and hash them, take random.Random.sample of the same
count per credit class, and sample two inspectors per drawn target.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import json
import random
import time

from conformity_shared.events import CreditClass, OrganisationKind
from supervision.domain import Campaign, Drawn, Frozen
from supervision.domain.draw import (
    CLASS_ORDER,
    CampaignParameters,
    Inspector,
    Target,
)
from supervision.domain.draw_record import commitment

from bench.context import Context
from bench.report import Figure, Section, progress


def directories(targets: int, inspectors: int) -> tuple[list[Target], list[Inspector], dict[str, list[str]]]:
    rng = random.Random(20240501)
    kinds, classes = list(OrganisationKind), list(CreditClass)
    target_list = [
        Target(f"9111{i:014d}", rng.choice(kinds), f"Organisation {i}", rng.choices(classes, (60, 25, 10, 5))[0])
        for i in range(targets)
    ]
    rng.shuffle(target_list)
    inspector_list = [
        Inspector(f"INS{i:06d}", f"Inspector {i}", f"9111{rng.randrange(targets):014d}", f"R{i % 31}", i % 50 != 0)
        for i in range(inspectors)
    ]
    previous = {
        f"9111{i:014d}": [f"INS{rng.randrange(inspectors):06d}" for _ in range(2)] for i in range(0, targets, 3)
    }
    return target_list, inspector_list, previous


def raw_draw(targets: list[Target], inspectors: list[Inspector], params: CampaignParameters) -> int:
    ordered = sorted(targets, key=lambda t: t.id)
    digest = hashlib.sha256(json.dumps([[t.id, t.kind, t.name, t.credit_class] for t in ordered]).encode()).hexdigest()
    rng = random.Random(digest)
    active = [i.id for i in inspectors if i.active]
    drawn = 0
    for credit_class in CLASS_ORDER:
        population = [t for t in ordered if t.credit_class == credit_class]
        chosen = rng.sample(population, params.sample_size(credit_class, len(population)))
        for _ in chosen:
            rng.sample(active, params.inspectors_per_target)
        drawn += len(chosen)
    return drawn


T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
OBSERVER = "notary-fuzhou"
SECRETS = {"regulator": "ab" * 32, OBSERVER: "cd" * 32}


def committed_campaign(params: CampaignParameters) -> Campaign:
    """A campaign of the regulator and an observer, both committed (not timed)."""
    campaign = Campaign.create("bench", "benchmark campaign", params, [OBSERVER], T0 + dt.timedelta(hours=1),
                               "benchmark beacon", T0 + dt.timedelta(hours=2), T0)
    for party, secret in SECRETS.items():
        campaign = campaign.commit(party, commitment(party, secret), T0)
    return campaign


def freeze_and_draw(
    committed: Campaign, targets: list[Target], inspectors: list[Inspector], previous: dict[str, list[str]]
) -> tuple[Frozen, Drawn, float, float]:
    """Freeze, reveal (not timed: two hashes), draw once the beacon is due: both steps and their seconds."""
    started = time.perf_counter()
    frozen = committed.freeze(targets, inspectors, previous, T0 + dt.timedelta(minutes=1))
    froze = time.perf_counter()
    revealed = frozen.campaign
    for party, secret in SECRETS.items():
        revealed = revealed.reveal(party, secret, T0 + dt.timedelta(minutes=2))
    started_draw = time.perf_counter()
    drawn = revealed.draw(frozen.snapshot_bytes, "benchmark beacon value", T0 + dt.timedelta(hours=2))
    return frozen, drawn, froze - started, time.perf_counter() - started_draw


async def run(ctx: Context) -> Section:
    n, m = ctx.sizes.draw_targets, ctx.sizes.draw_inspectors
    progress(f"  building directories of {n:,} targets and {m:,} inspectors (not timed)")
    targets, inspectors, previous = directories(n, m)
    params = CampaignParameters(kinds=frozenset(OrganisationKind), inspectors_per_target=2)
    committed = committed_campaign(params)
    gc.collect()

    started = time.perf_counter()
    drawn_raw = raw_draw(targets, inspectors, params)
    baseline = time.perf_counter() - started
    progress(f"  baseline (sort, json + sha256, random.sample): {baseline:.2f}s")
    gc.collect()

    frozen, drawn, freeze_seconds, draw_seconds = freeze_and_draw(committed, targets, inspectors, previous)
    total = freeze_seconds + draw_seconds
    result = drawn.result
    progress(f"  freeze + draw: {total:.2f}s (freeze {freeze_seconds:.2f}s, draw {draw_seconds:.2f}s), "
             f"{len(result.targets):,} targets drawn")

    section = Section("draw")
    section.details = {
        "targets": n, "inspectors": m, "previous_assignments": len(previous),
        "drawn": len(result.targets), "drawn_by_baseline": drawn_raw, "snapshot_hash": frozen.campaign.snapshot_hash,
        "seconds": {"freeze": freeze_seconds, "draw": draw_seconds, "total": total},
        "baseline_seconds": baseline,
    }
    section.figures.append(Figure(
        "scaling", f"freeze + draw over {n:,} targets / {m:,} inspectors (snapshot + checks + SHA-256, then "
        "re-read + seed + draw)", "s", total, baseline, "sort + json.dumps + sha256 + random.sample, same counts",
        "lower",
    ))
    return section
