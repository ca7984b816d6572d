"""`python -m bench`: start the local Kafka broker, run the benchmarks, print the table, write
the results (bench/results/<time>-<mode>.json and .md, and latest-<mode>.json).

Targets are aims (issue 9), never assertions: the exit status is 0 whenever every benchmark
ran, whatever the figures; a benchmark that could not run makes it 1 (so CI notices rot).
"""

from __future__ import annotations

import argparse
import dataclasses
import asyncio
import datetime as dt
import logging
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

from conformity_shared import topics
from conformity_devstack.kafka import LocalKafka, kafka_version

from bench import bulk_cascade, cascade, digital, draw_time, relay_clients, throughput, verification, verification_pg
from bench.context import Context
from bench.kafka_tools import client_costs, create_topics
from bench.profiling import find_py_spy
from bench.report import Section, machine, progress, text_table, write_results
from bench.sizes import FULL, QUICK, Sizes

BENCHMARKS = {
    "cascade": cascade.run,
    "bulk": bulk_cascade.run,
    "relay_clients": relay_clients.run,
    "throughput": throughput.run,
    "verification": verification.run,
    "verification_pg": verification_pg.run,
    "draw": draw_time.run,
    "digital": digital.run,
}
RESULTS = Path(__file__).resolve().parent / "results"


async def run_all(ctx: Context, names: list[str], meta: dict) -> list[Section]:
    await create_topics(ctx.bootstrap, [*topics.ALL, topics.dead_letters("certificates"), topics.dead_letters("supervision")])
    meta["broker_round_trips"] = costs = await client_costs(ctx.bootstrap)
    progress("broker round trips (p50): " + ", ".join(f"{k.removesuffix('_p50_ms')} {v:.2f} ms" for k, v in costs.items()))
    sections = []
    for name in names:
        progress(f"{name}: starting (load average {os.getloadavg()[0]:.2f})")
        before = os.getloadavg()
        started = time.monotonic()
        try:
            section = await BENCHMARKS[name](ctx)
        except Exception as exc:  # noqa: BLE001 - reported in the table and the exit status
            traceback.print_exc()
            section = Section(name, error=f"{type(exc).__name__}: {exc}")
        section.seconds = time.monotonic() - started
        section.load_before, section.load_after = before, os.getloadavg()
        progress(f"{name}: done in {section.seconds:.1f}s (load average {section.load_after[0]:.2f})")
        sections.append(section)
    return sections


def _arguments(argv: list[str] | None) -> tuple[argparse.Namespace, Sizes, list[str], str | None]:
    """The parsed command line, the sizes, the benchmarks to run and py-spy's path if profiling."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (CI): every benchmark, in about 2 minutes")
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(BENCHMARKS)}")
    parser.add_argument("--profile", action="store_true",
                        help="attach py-spy to the certificates service during cascade, bulk and throughput")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where JSON/Markdown results go")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (databases, service logs)")
    parser.add_argument("--verify-sizes", help="comma-separated data set sizes for verification, smallest first "
                        "(e.g. 10000,1000000 where loading 3 million once would take too long)")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.verify_sizes:
        sizes = dataclasses.replace(sizes, verify_sizes=tuple(int(n) for n in args.verify_sizes.split(",")))
    names = [n.strip() for n in args.only.split(",")] if args.only else list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    py_spy = find_py_spy() if args.profile else None
    if args.profile and not py_spy:
        parser.error("--profile needs py-spy (uv pip install py-spy, or set PY_SPY to its path)")
    return args, sizes, names, py_spy


def _run_with_broker(ctx: Context, names: list[str], measured: dict) -> list[Section]:
    broker = LocalKafka(ctx.run_dir / "kafka").start()
    os.environ.update(broker.service_env())  # services and baselines connect with the same authentication
    ctx.bootstrap = broker.bootstrap_servers
    try:
        try:
            import uvloop

            return uvloop.run(run_all(ctx, names, measured))
        except ImportError:  # pragma: no cover - uvicorn[standard] brings uvloop
            return asyncio.run(run_all(ctx, names, measured))
    finally:
        broker.stop()


def _print(sections: list[Section], sizes: Sizes, meta: dict, paths: tuple[Path, Path], profiled: bool) -> None:
    print()
    print(f"benchmarks ({sizes.mode}), {meta['machine']['cpus']} cores, load average at start "
          f"{meta['load_average_start'][0]:.2f}, {meta['wall_seconds']:.0f}s in all")
    if profiled:
        print("PROFILED RUN: py-spy samples the services meanwhile, which perturbs these figures; quote an unprofiled run")
    if sizes.mode == "quick":
        print("quick mode: small sizes, for checking that the harness runs; targets are for the full sizes")
    print(text_table(sections))
    print(f"\nratio = platform / raw baseline, both measured in this run. Results: {paths[0]} (table: {paths[1]})")


def main(argv: list[str] | None = None) -> int:
    args, sizes, names, py_spy = _arguments(argv)
    # aiokafka warns while a just-created topic elects its leader; the retry is routine.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    started_at = dt.datetime.now(dt.UTC)
    scratch = Path(tempfile.mkdtemp(prefix=f"conformity-bench-{sizes.mode}-"))
    progress(f"bench ({sizes.mode}): {', '.join(names)}; scratch {scratch}; load average "
             f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    progress(f"starting Apache Kafka {kafka_version()} (local broker, KRaft, one node)")
    ctx = Context(sizes, "", scratch, args.results, py_spy)
    args.results.mkdir(parents=True, exist_ok=True)
    load_start = os.getloadavg()
    measured: dict = {}
    sections = _run_with_broker(ctx, names, measured)
    failed = [s for s in sections if s.error]
    meta = {
        **measured, "sizes": sizes.__dict__, "profiled": bool(py_spy),
        "command": " ".join([Path(sys.executable).name, "-m", "bench", *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine(), "load_average_start": load_start, "load_average_end": os.getloadavg(),
        "wall_seconds": (dt.datetime.now(dt.UTC) - started_at).total_seconds(),
    }
    paths = write_results(args.results, sizes.mode, started_at, sections, meta)
    _print(sections, sizes, meta, paths, bool(py_spy))
    # The plain closing line CI reads: benchmarks that ran through, and those that could not.
    print(f"bench: {len(sections) - len(failed)} passed, {len(failed)} failed")
    if failed or args.keep:
        progress(f"scratch kept: {scratch} (databases, service and broker logs)")
    else:
        shutil.rmtree(scratch, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
