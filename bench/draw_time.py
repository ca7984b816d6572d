"""Draw time: the "double random" draw over 1,000,000 targets and 5,000 inspectors (the
directories of tests/draw_scale_check.py: a third of the targets inspected in the previous
campaign, inspectors employed by some targets).

Platform: what a campaign's draw computes, in this process: the canonical snapshot
(sorted, validated), its SHA-256, and `draw` (targets per credit class, then inspectors
without conflict of interest, all from SHA-256 counter streams so anyone can re-run it).

Baseline: the least a draw of the same size must do, without the reproducibility: sort the
targets, serialise them with json.dumps and hash them, take random.Random.sample of the same
count per credit class, and sample two inspectors per drawn target.
"""

from __future__ import annotations

import gc
import hashlib
import json
import random
import time

from conformity_shared.events import CreditClass, OrganisationKind
from supervision.domain.draw import (
    CLASS_ORDER,
    CampaignParameters,
    Inspector,
    Snapshot,
    Target,
    draw,
)

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


async def run(ctx: Context) -> Section:
    n, m = ctx.sizes.draw_targets, ctx.sizes.draw_inspectors
    progress(f"  building directories of {n:,} targets and {m:,} inspectors (not timed)")
    targets, inspectors, previous = directories(n, m)
    params = CampaignParameters(kinds=frozenset(OrganisationKind), inspectors_per_target=2)
    gc.collect()

    started = time.perf_counter()
    drawn_raw = raw_draw(targets, inspectors, params)
    baseline = time.perf_counter() - started
    progress(f"  baseline (sort, json + sha256, random.sample): {baseline:.2f}s")
    gc.collect()

    started = time.perf_counter()
    snapshot = Snapshot(targets, inspectors, previous, params)
    built = time.perf_counter()
    digest = snapshot.hash
    hashed = time.perf_counter()
    result = draw("benchmark-seed", snapshot)
    finished = time.perf_counter()
    total = finished - started
    progress(f"  draw: {total:.2f}s (snapshot {built - started:.2f}s, hash {hashed - built:.2f}s, "
             f"draw {finished - hashed:.2f}s), {len(result.targets):,} targets drawn")

    section = Section("draw")
    section.details = {
        "targets": n, "inspectors": m, "previous_assignments": len(previous),
        "drawn": len(result.targets), "drawn_by_baseline": drawn_raw, "snapshot_hash": digest,
        "seconds": {"snapshot": built - started, "hash": hashed - built, "draw": finished - hashed, "total": total},
        "baseline_seconds": baseline,
    }
    section.figures.append(Figure(
        "scaling", f"draw over {n:,} targets / {m:,} inspectors (snapshot + SHA-256 + draw)", "s", total, baseline,
        "sort + json.dumps + sha256 + random.sample, same counts", "lower",
    ))
    return section
