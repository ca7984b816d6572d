"""Public verification on PostgreSQL: the same public reader processes, over a certificates
database on a local PostgreSQL server (`LocalPostgres`, the integration tests' fixture).

Baseline: the same query through the same driver without the service: asyncpg from the
harness, one connection, the SELECT SQLAlchemy sends for one number (`number = $1`) and for a
batch (`number IN ($1, ..., $1000)`), prepared once, as SQLAlchemy's asyncpg dialect does.

Loading through the loader on PostgreSQL is slower than into SQLite, so its data set is
smaller (`Sizes.verify_pg_size`); the row count is in every figure's name.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg

from certificates import loader
from conformity_devstack.postgres import LocalPostgres, _bin

from bench import verification as v
from bench.context import Context
from bench.report import Figure, Section, progress, summary
from bench.services import Services, process_tree

COLUMNS = v.COLUMNS


def available() -> bool:
    try:
        _bin("initdb")
    except RuntimeError:
        return False
    return True


async def _numbers(dsn: str, k: int) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT setseed(0.2026)")
        return [r[0] for r in await conn.fetch("SELECT number FROM certificates ORDER BY random() LIMIT $1", k)]
    finally:
        await conn.close()


async def direct_lookups(dsn: str, numbers: list[str], batches: list[list[str]]) -> dict[str, Any]:
    """The raw baseline: asyncpg, one connection, prepared statements."""
    conn = await asyncpg.connect(dsn)
    try:
        one = await conn.prepare(f"SELECT {COLUMNS} FROM certificates WHERE number = $1")
        many = await conn.prepare(f"SELECT {COLUMNS} FROM certificates WHERE number IN "
                                  f"({', '.join(f'${i + 1}' for i in range(v.BATCH))})")
        for number in numbers[:200]:
            await one.fetch(number)
        single, started = [], time.perf_counter()
        for number in numbers:
            t = time.perf_counter()
            await one.fetch(number)
            single.append(time.perf_counter() - t)
        single_seconds = time.perf_counter() - started
        batch, started = [], time.perf_counter()
        for numbers_asked in batches:
            t = time.perf_counter()
            await many.fetch(*numbers_asked)
            batch.append(time.perf_counter() - t)
        batch_seconds = time.perf_counter() - started
    finally:
        await conn.close()
    return {"single": {**summary(single), "per_second": len(numbers) / single_seconds},
            "batch": {**summary(batch), "numbers_per_second": v.BATCH * len(batches) / batch_seconds}}


def _plan(numbers: list[str], ctx: Context) -> v.Plan:
    s = ctx.sizes
    cuts = [300, 300 + s.verify_single_latency, 300 + s.verify_single_latency + s.verify_single_load]
    batch_numbers = [numbers[(cuts[2] + i) % len(numbers)] for i in range((5 + s.verify_batch_latency
                                                                          + s.verify_batch_load) * v.BATCH)]
    return v.Plan(
        warmup=numbers[:cuts[0]], single_latency=numbers[cuts[0]:cuts[1]], single_load=numbers[cuts[1]:cuts[2]],
        batch_warmup=v._batches(batch_numbers, 5),
        batch_latency=v._batches(batch_numbers[5 * v.BATCH:], s.verify_batch_latency),
        batch_load=v._batches(batch_numbers[(5 + s.verify_batch_latency) * v.BATCH:], s.verify_batch_load),
        direct=numbers[:s.verify_direct_lookups],
    )


async def measure(ctx: Context, pg: LocalPostgres) -> dict[str, Any]:
    size = ctx.sizes.verify_pg_size
    database = await asyncio.to_thread(pg.create_database, "bench_verification")
    url, dsn = f"{pg.url}/{database}", f"postgresql://conformity@127.0.0.1:{pg.port}/{database}"
    progress(f"  PostgreSQL: loading {size:,} certificates")
    await loader.load(url, size)
    p = _plan(await _numbers(dsn, size), ctx)
    baseline = await direct_lookups(dsn, p.direct, p.batch_latency)
    result: dict[str, Any] = {"size": size, "baseline": baseline, "workers": ctx.sizes.verify_workers}
    services = Services(ctx.workdir("verification-postgresql"), ctx.bootstrap,
                        env=v.service_env(url))
    try:
        await asyncio.to_thread(services.stack.migrate, ("certificates",))
        url_http = await services.start_public_reader("certificates", v.READER, ctx.sizes.verify_workers)
        pids = process_tree(services.reader_pid("certificates"))
        result.update(await v.latency_phases(url_http, p))
        result.update(await v.load_phases(ctx, url_http, pids, p, size))
    finally:
        services.stop_all()
    return result


def figures(ctx: Context, r: dict[str, Any]) -> list[Figure]:
    label, one, many, raw = f"PostgreSQL, {r['size']:,}", r["single_load"], r["batch_load"], r["baseline"]
    return [
        Figure("verification", f"one number, requests/s ({label}, {ctx.sizes.verify_concurrency} concurrent)",
               "req/s", one["requests_per_second"], raw["single"]["per_second"], "asyncpg, same SELECT", "higher"),
        Figure("verification", f"one number under load p99 ({label})", "ms", one["p99_ms"],
               raw["single"]["p99_ms"], "asyncpg lookup p99", "lower"),
        Figure("verification", f"bulk, numbers/s ({label}, batches of 1,000)", "numbers/s",
               many["numbers_per_second"], raw["batch"]["numbers_per_second"], "asyncpg, same IN query", "higher"),
        Figure("verification", f"bulk of 1,000 under load p99 ({label})", "ms", many["p99_ms"],
               raw["batch"]["p99_ms"], "asyncpg IN query p99", "lower"),
    ]


async def run(ctx: Context) -> Section:
    section = Section("verification_pg")
    if not available():
        section.error = "PostgreSQL's initdb not found (make system-deps installs it)"
        return section
    pg = await asyncio.to_thread(LocalPostgres().start)
    try:
        result = await measure(ctx, pg)
    finally:
        await asyncio.to_thread(pg.stop)
    section.details["postgresql"] = result
    section.figures += figures(ctx, result)
    return section
