"""The soak's bounds: what counts as growth of memory or lag, on made-up samples."""

from __future__ import annotations

from bench.soak import LAG_SMALL, Samples, verdicts


def run_of(series: dict[tuple[str, str], list[float]], every: float = 5.0) -> Samples:
    """Samples every `every` seconds for each series; the load stopped after the last."""
    samples = Samples()
    for (kind, name), values in series.items():
        samples.rows += [(i * every, kind, name, value) for i, value in enumerate(values)]
    samples.load_ended = max(t for t, *_ in samples.rows)
    return samples


def held(samples: Samples, drained: float | None = 2.0) -> dict[str, bool]:
    return {v.name: v.held for v in verdicts(samples, drained)}


def test_memory_that_settles_holds_and_memory_that_keeps_growing_does_not() -> None:
    # 60 samples: warm from the 10th; the first warm window is samples 10-30, the last 40-60.
    settles = [100.0 + min(i, 12) * 5 for i in range(61)]  # grows while warming up, then flat
    leaks = [100.0 + i for i in range(61)]  # 1 MiB a sample, for ever
    found = held(run_of({("rss_mib", "settles"): settles, ("rss_mib", "leaks"): leaks}))
    assert found == {"settles": True, "leaks": False}


def test_lag_must_not_grow_must_recover_and_must_drain() -> None:
    busy = [float(i % 3) for i in range(61)]
    stuck = [0.0] * 30 + [LAG_SMALL + 10.0] * 10 + [0.0] * 21  # 50 s above the small number
    growing = [float(i * 4) for i in range(61)]
    found = held(run_of({("lag", "busy"): busy, ("lag", "stuck"): stuck, ("lag", "growing"): growing}))
    assert found == {"busy": True, "stuck": False, "growing": False}
    assert held(run_of({("lag", "busy"): busy}), drained=None) == {"busy": False}
