"""How big each benchmark is: the full run of issue 9, and the quick run CI uses."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sizes:
    mode: str
    # cascade latency: measured runs (after warm-up ones), baseline runs as many
    cascade_runs: int
    cascade_warmup: int
    # bulk cascade: valid certificates of the revoked body (the loader's mix is ~90% valid,
    # so about this many; the exact count is reported)
    bulk_valid: int
    # sustained throughput: spot-check events in the backlog
    throughput_events: int
    # public verification: data sets (the last is the headline figure; first vs last = scaling)
    verify_sizes: tuple[int, ...]
    verify_single_latency: int  # requests at concurrency 1
    verify_single_load: int  # requests at verify_concurrency
    verify_concurrency: int
    verify_batch_latency: int  # batches of 1,000 at concurrency 1
    verify_batch_load: int  # batches of 1,000 at verify_batch_concurrency
    verify_batch_concurrency: int
    verify_direct_lookups: int  # single-key lookups of the raw SQLite baseline
    verify_pg_size: int  # certificates in the PostgreSQL data set (loaded each run)
    verify_workers: int  # uvicorn worker processes of the public reader (README, "Scaling public verification")
    # the draw
    draw_targets: int
    draw_inspectors: int
    # digital certificates: issuances over the use case, certificates loaded with credentials,
    # valid certificates of the body whose revocation sets its status list bits, raw signatures
    digital_issuances: int = 2_000
    digital_loaded: int = 100_000
    digital_revoked: int = 100_000
    digital_raw_signs: int = 20_000
    # the relay's clients compared: outbox rows published by each, and alternating rounds
    relay_records: int = 100_000
    relay_rounds: int = 3


FULL = Sizes(
    mode="full",
    cascade_runs=1000,
    cascade_warmup=50,
    bulk_valid=100_000,
    throughput_events=10_000,
    verify_sizes=(10_000, 3_000_000),
    verify_single_latency=2_000,
    verify_single_load=10_000,
    verify_concurrency=16,
    verify_batch_latency=100,
    verify_batch_load=300,
    verify_batch_concurrency=4,
    verify_direct_lookups=50_000,
    verify_pg_size=100_000,
    verify_workers=2,
    draw_targets=1_000_000,
    draw_inspectors=5_000,
)

QUICK = Sizes(
    mode="quick",
    cascade_runs=50,
    cascade_warmup=10,
    bulk_valid=10_000,
    throughput_events=1_500,
    verify_sizes=(1_000, 10_000),
    verify_single_latency=300,
    verify_single_load=1_000,
    verify_concurrency=16,
    verify_batch_latency=10,
    verify_batch_load=30,
    verify_batch_concurrency=4,
    verify_direct_lookups=5_000,
    verify_pg_size=2_000,
    verify_workers=2,
    draw_targets=10_000,
    draw_inspectors=500,
    digital_issuances=200,
    digital_loaded=5_000,
    digital_revoked=5_000,
    digital_raw_signs=2_000,
    relay_records=10_000,
    relay_rounds=1,
)
