"""Public verification over real HTTP: one number (GET /public/certificates/{number}) and
batches of 1,000 (POST /public/certificates/verify), against the certificates service as a
uvicorn process serving a loaded data set (3 million certificates in the full run).

Per data set: latency at concurrency 1 (p50/p95/p99), then throughput with a concurrent
client (httpx, keep-alive connections) and the latency under that load. Numbers are drawn at
random from the whole data set (a different sample per phase). The data set's file is read
once first, so that every size is measured with its pages in the OS cache.

Baseline: the same primary-key lookup (the same columns) straight in SQLite from Python
(sqlite3, one connection): one number per query, and one IN query per 1,000 numbers.

The service runs with its consumers and scheduler off (`CONFORMITY_CONSUMERS_ENABLED=false`,
a scheduler interval longer than the run): the cached data set must stay as loaded, and
neither takes part in answering a verification.
"""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from bench.context import Context
from bench.http_client import Connection
from bench.profiling import Profile, describe
from bench.report import Figure, Section, progress, summary
from bench.services import (
    Services,
    cached_dataset,
    cpu_seconds,
    sqlite_url,
    warm_page_cache,
)

BATCH = 1000
client_cpu: list[float] = []  # the harness's CPU time / wall time, per closed loop
COLUMNS = ("number, status, holder_uscc, holder_name, issuing_body_uscc, scheme, field, product, standard, "
           "valid_from, valid_until, suspension_reason, suspended_until, last_change_at, last_change_reason")


def sample_numbers(path: Path, k: int, seed: int) -> list[str]:
    """k certificate numbers drawn uniformly from the data set (by rowid)."""
    rng = random.Random(seed)
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        high = conn.execute("SELECT max(rowid) FROM certificates").fetchone()[0]
        rowids = [rng.randint(1, high) for _ in range(k)]
        numbers = []
        for start in range(0, k, 900):
            chunk = rowids[start:start + 900]
            found = dict(conn.execute(
                f"SELECT rowid, number FROM certificates WHERE rowid IN ({','.join('?' * len(chunk))})", chunk))
            numbers += [found[r] for r in chunk if r in found]
    return numbers


def direct_lookups(path: Path, numbers: Sequence[str], batches: Sequence[Sequence[str]]) -> dict[str, Any]:
    """The raw baseline: the same key lookups in SQLite from Python, no service in between."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        single_query = f"SELECT {COLUMNS} FROM certificates WHERE number = ?"
        for number in numbers[:200]:  # warm-up
            conn.execute(single_query, (number,)).fetchall()
        latencies = []
        started = time.perf_counter()
        for number in numbers:
            t = time.perf_counter()
            rows = conn.execute(single_query, (number,)).fetchall()
            latencies.append(time.perf_counter() - t)
            assert rows, number
        single_seconds = time.perf_counter() - started
        batch_latencies = []
        found = 0
        started = time.perf_counter()
        for batch in batches:
            t = time.perf_counter()
            rows = conn.execute(f"SELECT {COLUMNS} FROM certificates WHERE number IN ({','.join('?' * len(batch))})",
                                list(batch)).fetchall()
            batch_latencies.append(time.perf_counter() - t)
            found += len(rows)
        batch_seconds = time.perf_counter() - started
    return {
        "single": {**summary(latencies), "per_second": len(numbers) / single_seconds},
        "batch": {**summary(batch_latencies), "numbers_per_second": sum(map(len, batches)) / batch_seconds,
                  "found": found},
    }


async def _closed_loop(base_url: str, requests: Sequence[Any], concurrency: int,
                       send: Callable[[Connection, Any], Awaitable[None]]) -> tuple[list[float], float]:
    """Send every request with `concurrency` workers, one keep-alive connection each; latencies
    and the wall time. The client's own CPU share of the wall time is noted (client_cpu), to
    show whether it, rather than the server, could have been the bottleneck."""
    latencies: list[float] = []
    queue = iter(requests)

    async def worker(connection: Connection) -> None:
        for item in queue:
            t = time.perf_counter()
            await send(connection, item)
            latencies.append(time.perf_counter() - t)

    connections = [Connection(base_url) for _ in range(concurrency)]
    for connection in connections:
        await connection.__aenter__()
    try:
        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker(c) for c in connections))
        wall = time.perf_counter() - started
        client_cpu.append((time.process_time() - cpu) / wall)
    finally:
        for connection in connections:
            await connection.__aexit__()
    return latencies, wall


async def _get_one(connection: Connection, number: str) -> None:
    status, body = await connection.request("GET", f"/public/certificates/{number}")
    if status != 200:
        raise RuntimeError(f"GET {number}: {status} {body[:200]!r}")


async def _verify_batch(connection: Connection, numbers: Sequence[str]) -> None:
    status, body = await connection.request("POST", "/public/certificates/verify", {"numbers": list(numbers)})
    if status != 200:
        raise RuntimeError(f"POST verify: {status} {body[:200]!r}")
    # Every number asked exists: the answer must say none is unknown (checked without parsing
    # the whole answer, which would cost the client more than a lookup costs SQLite).
    if b'"unknown":0,' not in body[:200] and json.loads(body)["unknown"]:
        raise RuntimeError("numbers of the data set answered unknown")


def _batches(numbers: Sequence[str], count: int) -> list[list[str]]:
    return [list(numbers[i * BATCH:(i + 1) * BATCH]) for i in range(count)]


async def measure(ctx: Context, size: int, load_phases: bool) -> dict[str, Any]:
    s = ctx.sizes
    path = await cached_dataset(size)
    warmed = warm_page_cache(path)
    progress(f"  {size:,} certificates: page cache warmed in {warmed:.1f}s")
    rng_seed = size
    singles_needed = s.verify_single_latency + s.verify_single_load + 500
    batches_needed = s.verify_batch_latency + s.verify_batch_load + 5
    numbers = sample_numbers(path, singles_needed + batches_needed * BATCH + s.verify_direct_lookups, rng_seed)
    warmup, numbers = numbers[:300], numbers[300:]
    single_latency, numbers = numbers[:s.verify_single_latency], numbers[s.verify_single_latency:]
    single_load, numbers = numbers[:s.verify_single_load], numbers[s.verify_single_load:]
    batch_numbers, numbers = numbers[:batches_needed * BATCH], numbers[batches_needed * BATCH:]
    batch_warmup = _batches(batch_numbers, 5)
    batch_latency = _batches(batch_numbers[5 * BATCH:], s.verify_batch_latency)
    batch_load = _batches(batch_numbers[(5 + s.verify_batch_latency) * BATCH:], s.verify_batch_load)
    direct = numbers[:s.verify_direct_lookups]

    progress(f"  {size:,}: raw SQLite lookups")
    baseline = await asyncio.to_thread(direct_lookups, path, direct, batch_latency)

    result: dict[str, Any] = {"size": size, "database_bytes": path.stat().st_size, "baseline": baseline}
    services = Services(ctx.workdir(f"verification-{size}"), ctx.bootstrap, env={
        "CONFORMITY_DATABASE_URL": sqlite_url(path),
        "CONFORMITY_CONSUMERS_ENABLED": "false",
        "CONFORMITY_SCHEDULER_INTERVAL_SECONDS": "1000000",
        # The harness is one client asking far more than a client's budget: the limits still
        # count every request (their cost is measured), but never refuse one.
        "CONFORMITY_PUBLIC_REQUESTS_PER_WINDOW": str(10**12),
        "CONFORMITY_PUBLIC_VERIFY_NUMBERS_PER_WINDOW": str(10**12),
    })
    try:
        await services.start("certificates")
        client = services.url("certificates")
        await _closed_loop(client, warmup, 4, _get_one)
        await _closed_loop(client, batch_warmup, 1, _verify_batch)
        progress(f"  {size:,}: HTTP latency at concurrency 1")
        lat, _ = await _closed_loop(client, single_latency, 1, _get_one)
        result["single_c1"] = summary(lat)
        lat, _ = await _closed_loop(client, batch_latency, 1, _verify_batch)
        result["batch_c1"] = summary(lat)
        if load_phases:
            c = s.verify_concurrency
            progress(f"  {size:,}: HTTP throughput, {c} concurrent clients / {s.verify_batch_concurrency} for batches")
            pid = services.pid("certificates")
            phases = (("single", single_load, c, _get_one), ("batch", batch_load, s.verify_batch_concurrency, _verify_batch))
            for phase, requests, concurrency, send in phases:
                profile = None
                if ctx.py_spy:
                    profile = Profile(ctx.py_spy, pid, ctx.results_dir / f"profile-verification-{phase}-certificates.txt")
                before = cpu_seconds(pid)
                lat, wall = await _closed_loop(client, requests, concurrency, send)
                server_cpu = cpu_seconds(pid) - before
                result[f"{phase}_load"] = {
                    **summary(lat), "concurrency": concurrency, "requests_per_second": len(lat) / wall,
                    "numbers_per_second": len(lat) * (BATCH if phase == "batch" else 1) / wall,
                    "client_cpu_share": client_cpu[-1], "server_cores_busy": server_cpu / wall,
                    "server_cpu_ms_per_request": 1000 * server_cpu / len(lat),
                }
                if profile:
                    result[f"{phase}_load"]["profile"] = found = profile.stop()
                    if found:
                        progress(f"  profile of the certificates service, {phase} verification under load:\n"
                                 + describe(found))
            one, many = result["single_load"], result["batch_load"]
            progress(f"  one number: server {one['server_cpu_ms_per_request']:.2f} ms CPU/request, "
                     f"{one['server_cores_busy']:.2f} cores busy, client {one['client_cpu_share']:.0%} of a core; "
                     f"batches: server {many['server_cpu_ms_per_request']:.1f} ms CPU/batch, "
                     f"{many['server_cores_busy']:.2f} cores, client {many['client_cpu_share']:.0%}")
    finally:
        services.stop_all()
    return result


async def run(ctx: Context) -> Section:
    section = Section("verification")
    sizes = ctx.sizes.verify_sizes
    results = {}
    for size in sizes:
        results[size] = await measure(ctx, size, load_phases=size == sizes[-1])
    section.details["by_size"] = {str(k): v for k, v in results.items()}
    big, small = results[sizes[-1]], results[sizes[0]]
    label = f"{sizes[-1]:,}"
    section.figures += [
        Figure("verification", f"one number, requests/s ({label}, {ctx.sizes.verify_concurrency} concurrent)", "req/s",
               big["single_load"]["requests_per_second"], big["baseline"]["single"]["per_second"],
               "SQLite primary-key lookup from Python", "higher"),
        Figure("verification", f"one number under load p50 ({label})", "ms", big["single_load"]["p50_ms"],
               big["baseline"]["single"]["p50_ms"], "SQLite lookup p50", "lower"),
        Figure("verification", f"one number under load p99 ({label})", "ms", big["single_load"]["p99_ms"],
               big["baseline"]["single"]["p99_ms"], "SQLite lookup p99", "lower"),
        Figure("verification", f"bulk, numbers/s ({label}, batches of 1,000, {ctx.sizes.verify_batch_concurrency} concurrent)",
               "numbers/s", big["batch_load"]["numbers_per_second"], big["baseline"]["batch"]["numbers_per_second"],
               "SQLite IN query of 1,000 keys", "higher",
               target="> 100,000/s", target_met=big["batch_load"]["numbers_per_second"] > 100_000),
        Figure("verification", f"bulk of 1,000 under load p50 ({label})", "ms", big["batch_load"]["p50_ms"],
               big["baseline"]["batch"]["p50_ms"], "SQLite IN query p50", "lower"),
        Figure("verification", f"bulk of 1,000 under load p99 ({label})", "ms", big["batch_load"]["p99_ms"],
               big["baseline"]["batch"]["p99_ms"], "SQLite IN query p99", "lower"),
    ]
    # Scaling: latency at concurrency 1, largest data set / smallest; baseline: the same ratio
    # of the raw lookups (what the B-tree's depth alone costs).
    for what, key, base_key in (("one number", "single_c1", "single"), ("bulk of 1,000", "batch_c1", "batch")):
        for p in ("p50", "p99"):
            ratio = big[key][f"{p}_ms"] / small[key][f"{p}_ms"]
            raw = big["baseline"][base_key][f"{p}_ms"] / small["baseline"][base_key][f"{p}_ms"]
            target = "<= 1.5x" if p == "p50" else ""
            section.figures.append(Figure(
                "scaling", f"{what} latency {p}, {label} / {sizes[0]:,} (c=1: {small[key][f'{p}_ms']:.2f} -> "
                f"{big[key][f'{p}_ms']:.2f} ms)", "x", ratio, raw, "same ratio for the raw SQLite lookup", "lower",
                target=target, target_met=(ratio <= 1.5) if target else None,
            ))
    return section

