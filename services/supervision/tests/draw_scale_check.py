"""Scale check, not a test: draw 1,000,000 targets / 5,000 inspectors and print the times.

    .venv/bin/python services/supervision/tests/draw_scale_check.py

Ids are synthetic (not checksummed USCCs): the draw treats ids as opaque strings.
"""

from __future__ import annotations

import random
import time

from conformity_shared.events import CreditClass, OrganisationKind
from supervision.domain.draw import CampaignParameters, Inspector, Snapshot, Target, draw, verify

TARGETS = 1_000_000
INSPECTORS = 5_000


def main() -> None:
    rng = random.Random(20240501)
    kinds = list(OrganisationKind)
    classes = list(CreditClass)
    started = time.perf_counter()
    targets = [
        Target(f"9111{i:014d}", rng.choice(kinds), f"Organisation {i}", rng.choices(classes, (60, 25, 10, 5))[0])
        for i in range(TARGETS)
    ]
    rng.shuffle(targets)
    inspectors = [
        Inspector(f"INS{i:06d}", f"Inspector {i}", f"9111{rng.randrange(TARGETS):014d}", f"R{i % 31}", i % 50 != 0)
        for i in range(INSPECTORS)
    ]
    previous = {
        f"9111{i:014d}": [f"INS{rng.randrange(INSPECTORS):06d}" for _ in range(2)] for i in range(0, TARGETS, 3)
    }
    built = time.perf_counter()
    snapshot = Snapshot(
        targets, inspectors, previous, CampaignParameters(kinds=frozenset(OrganisationKind), inspectors_per_target=2)
    )
    normalised = time.perf_counter()
    digest = snapshot.hash
    hashed = time.perf_counter()
    result = draw("scale-check-seed", snapshot)
    drawn = time.perf_counter()
    ok = verify("scale-check-seed", snapshot, result)  # the hash is cached by now
    verified = time.perf_counter()

    loads: dict[str, int] = {}
    for t in result.targets:
        for i in t.inspector_ids:
            loads[i] = loads.get(i, 0) + 1
    print(f"directories built (test data)      {built - started:6.2f} s")
    print(f"snapshot sorted and validated      {normalised - built:6.2f} s")
    print(f"canonical bytes + SHA-256          {hashed - normalised:6.2f} s  ({len(snapshot.canonical_bytes):,} bytes)")
    print(f"draw (targets + inspectors)        {drawn - hashed:6.2f} s")
    print(f"snapshot + hash + draw             {drawn - built:6.2f} s")
    print(f"verify (re-run and compare)        {verified - drawn:6.2f} s  ok={bool(ok)}")
    print(f"snapshot hash {digest}")
    per_class = ", ".join(f"{c.credit_class}={c.drawn}/{c.population}" for c in result.counts)
    print(f"drawn {len(result.targets):,} targets: {per_class}")
    print(f"inspector load min {min(loads.values())} max {max(loads.values())} over {len(loads)} active inspectors")


if __name__ == "__main__":
    main()
