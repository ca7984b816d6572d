"""Bulk cascade (DESIGN flow 3): a body's approval is revoked and every one of its ~100,000 valid
certificates is suspended, one certificate.suspended event each.

Platform: the certificates service (uvicorn process, SQLite) holding a data set from the
bulk loader in which one body issued every certificate. The clock starts when
`approval.revoked.v1` is produced (as approval's relay would) and stops when the observer has
read a certificate.suspended event for every valid certificate; the database is then checked:
none of the body's certificates is still valid.

Baseline: a bare aiokafka process producing the same number of certificate.suspended records
(the same bodies, keys and headers as the platform's) with the relay's producer settings,
read by the same observer; the clock starts when it is told to go.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaProducer

from conformity_shared import topics

from bench import payloads
from bench.context import Context
from bench.kafka_tools import (
    BareKafka,
    Observer,
    create_topics,
    message_file,
    relay_like_producer,
)
from bench.profiling import Profile, describe
from bench.report import Figure, Section, progress
from bench.services import (
    SEED,
    Cert,
    Services,
    count_for_valid,
    cpu_seconds,
    load,
    valid_certificates,
)

SUSPENDED = "certificate.suspended.v1"
BASELINE_TOPIC = "bench.bulk"


@dataclass
class DataSet:
    database: Path
    body: str
    approval_id: str
    warm: Cert  # a certificate of another body, for the warm-up spot check
    certs: list[Cert]  # the valid certificates of the body to revoke


async def run(ctx: Context) -> Section:
    work = ctx.workdir("bulk")
    data = await _data_set(ctx, work)
    n = len(data.certs)
    section = Section("bulk_cascade")
    timeout = max(120.0, n / 200)
    produced, baseline_seconds = await _baseline(ctx, work, data, timeout)
    progress(f"  baseline: {n:,} records produced in {produced:.2f}s, all read after {baseline_seconds:.2f}s")
    first, last, cpu_used = await _platform(ctx, work, data, timeout, section)
    published = _check_database(data)
    progress(f"  platform: first suspension read after {first:.2f}s, all {n:,} after {last:.2f}s")
    first_cert = data.certs[0]
    section.details.update({
        "valid_certificates_of_body": n, "platform_seconds_to_first_event": first,
        "platform_seconds_to_all_events": last, "platform_events_per_second": n / last,
        "outbox_rows_published": published, "platform_cpu_seconds": cpu_used,
        "baseline_seconds_producing": produced, "baseline_seconds_to_all_read": baseline_seconds,
        "record_bytes": payloads.size(payloads.certificate_suspended(first_cert.number, data.body, first_cert.holder,
                                                                     "issuing_body_revoked")),
    })
    full = ctx.sizes.bulk_valid >= 100_000
    section.figures.append(Figure(
        "bulk cascade", f"revocation -> {n:,} suspended, all events read", "s", last, baseline_seconds,
        f"bare aiokafka producing {n:,} records of the same size, all read", "lower",
        target="< 5 s" if full else "", target_met=(last < 5) if full else None,
    ))
    return section


async def _data_set(ctx: Context, work: Path) -> DataSet:
    database = work / "certificates.db"
    await load(database, count_for_valid(ctx.sizes.bulk_valid), bodies=1)
    with sqlite3.connect(database) as conn:
        body, approval_id = conn.execute("SELECT uscc, approval_id FROM approved_bodies").fetchone()
    await load(database, 20, seed=SEED + 1, bodies=1)  # another body: a warm-up certificate
    warm = next(c for c in valid_certificates(database) if c.body != body)
    certs = valid_certificates(database, body=body)
    progress(f"  body {body} has {len(certs):,} valid certificates")
    return DataSet(database, body, approval_id, warm, certs)


async def _baseline(ctx: Context, work: Path, data: DataSet, timeout: float) -> tuple[float, float]:
    """The same records produced by bare aiokafka: (seconds producing, seconds until all read)."""
    await create_topics(ctx.bootstrap, [BASELINE_TOPIC])
    messages = message_file(work / "suspended.jsonl", (
        payloads.certificate_suspended(c.number, c.body, c.holder, "issuing_body_revoked") for c in data.certs))
    bare = BareKafka("produce", "--bootstrap", ctx.bootstrap, "--topic", BASELINE_TOPIC, "--messages", str(messages),
                     log=work / "bare-producer.log")
    try:
        await bare.expect("ready")
        async with Observer(ctx.bootstrap, BASELINE_TOPIC) as observer:
            started = time.perf_counter()
            bare.say("go")
            produced = float((await bare.expect("done")).split()[1])
            arrivals = await observer.count(SUSPENDED, len(data.certs), timeout)
            baseline_seconds = max(arrivals.times) - started
        bare.say("exit")
    finally:
        bare.stop()
    return produced, baseline_seconds


async def _platform(ctx: Context, work: Path, data: DataSet, timeout: float,
                    section: Section) -> tuple[float, float, float]:
    """The revocation through the certificates service: (first read, all read, CPU seconds)."""
    services = Services(work, ctx.bootstrap)
    profile: Profile | None = None
    producer = relay_like_producer(ctx.bootstrap, "bench-bulk-driver")
    await producer.start()
    try:
        await services.start("certificates")
        async with Observer(ctx.bootstrap, topics.CERTIFICATES) as observer:
            await _warm_up(producer, observer, data.warm)
            pid = services.pid("certificates")
            if ctx.py_spy:
                profile = Profile(ctx.py_spy, pid, ctx.results_dir / "profile-bulk-certificates.txt")
            cpu_before = cpu_seconds(pid)
            first, last = await _revoke(producer, observer, data, timeout)
            cpu_used = cpu_seconds(pid) - cpu_before
        if profile:
            section.details["profile_certificates"] = summary = profile.stop()
            profile = None
            if summary:
                progress("  profile of the certificates service during the bulk cascade:\n" + describe(summary))
    finally:
        if profile:
            profile.stop()
        await producer.stop()
        services.stop_all()
    return first, last, cpu_used


async def _warm_up(producer: AIOKafkaProducer, observer: Observer, warm: Cert) -> None:
    """The service's consumer has joined and handled one event end to end."""
    key, value, headers = payloads.spot_check_failed(warm.holder, warm.number)
    await producer.send_and_wait(topics.SUPERVISION, value, key=key.encode(), headers=headers)
    await observer.key_arrival(SUSPENDED, warm.number, timeout=120)


async def _revoke(producer: AIOKafkaProducer, observer: Observer, data: DataSet, timeout: float) -> tuple[float, float]:
    key, value, headers = payloads.approval_revoked(data.approval_id, data.body)
    started = time.perf_counter()
    await producer.send_and_wait(topics.APPROVAL, value, key=key.encode(), headers=headers)
    wanted = {c.number for c in data.certs}
    arrivals = observer.arrivals(SUSPENDED)
    await observer.until(lambda: wanted.issubset(arrivals.keys), timeout, f"{len(wanted):,} suspensions")
    times = [arrivals.keys[number] for number in wanted]
    return min(times) - started, max(times) - started


def _check_database(data: DataSet) -> int:
    """None of the body's certificates is still valid; how many suspensions were published."""
    with sqlite3.connect(data.database) as conn:
        still_valid = conn.execute("SELECT count(*) FROM certificates WHERE issuing_body_uscc = ? AND status = 'valid'",
                                   (data.body,)).fetchone()[0]
        published = conn.execute("SELECT count(*) FROM outbox WHERE event_type = ? AND published_at IS NOT NULL",
                                 (SUSPENDED,)).fetchone()[0]
    if still_valid:
        raise RuntimeError(f"{still_valid} certificates of the revoked body are still valid")
    return published
