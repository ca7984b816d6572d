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
    Services,
    count_for_valid,
    cpu_seconds,
    load,
    valid_certificates,
)

SUSPENDED = "certificate.suspended.v1"
BASELINE_TOPIC = "bench.bulk"


async def run(ctx: Context) -> Section:
    sizes = ctx.sizes
    work = ctx.workdir("bulk")
    database = work / "certificates.db"
    await load(database, count_for_valid(sizes.bulk_valid), bodies=1)
    with sqlite3.connect(database) as conn:
        body, approval_id = conn.execute("SELECT uscc, approval_id FROM approved_bodies").fetchone()
    await load(database, 20, seed=SEED + 1, bodies=1)  # another body: a warm-up certificate
    warm = next(c for c in valid_certificates(database) if c.body != body)
    certs = valid_certificates(database, body=body)
    n = len(certs)
    progress(f"  body {body} has {n:,} valid certificates")

    section = Section("bulk_cascade")
    timeout = max(120.0, n / 200)

    # Baseline first: the same records, produced by bare aiokafka.
    await create_topics(ctx.bootstrap, [BASELINE_TOPIC])
    messages = message_file(work / "suspended.jsonl", (
        payloads.certificate_suspended(c.number, c.body, c.holder, "issuing_body_revoked") for c in certs))
    bare = BareKafka("produce", "--bootstrap", ctx.bootstrap, "--topic", BASELINE_TOPIC, "--messages", str(messages),
                     log=work / "bare-producer.log")
    try:
        await bare.expect("ready")
        async with Observer(ctx.bootstrap, BASELINE_TOPIC) as observer:
            started = time.perf_counter()
            bare.say("go")
            produced = float((await bare.expect("done")).split()[1])
            arrivals = await observer.count(SUSPENDED, n, timeout)
            baseline_seconds = max(arrivals.times) - started
        bare.say("exit")
    finally:
        bare.stop()
    progress(f"  baseline: {n:,} records produced in {produced:.2f}s, all read after {baseline_seconds:.2f}s")

    services = Services(work, ctx.bootstrap)
    profile: Profile | None = None
    producer = relay_like_producer(ctx.bootstrap, "bench-bulk-driver")
    await producer.start()
    try:
        await services.start("certificates")
        async with Observer(ctx.bootstrap, topics.CERTIFICATES) as observer:
            # Warm-up: the service's consumer has joined and handled one event end to end.
            key, value, headers = payloads.spot_check_failed(warm.holder, warm.number)
            await producer.send_and_wait(topics.SUPERVISION, value, key=key.encode(), headers=headers)
            await observer.key_arrival(SUSPENDED, warm.number, timeout=120)
            if ctx.py_spy:
                profile = Profile(ctx.py_spy, services.pid("certificates"), ctx.results_dir / "profile-bulk-certificates.txt")
            key, value, headers = payloads.approval_revoked(approval_id, body)
            cpu_before = cpu_seconds(services.pid("certificates"))
            started = time.perf_counter()
            await producer.send_and_wait(topics.APPROVAL, value, key=key.encode(), headers=headers)
            wanted = {c.number for c in certs}
            arrivals = observer.arrivals(SUSPENDED)
            await observer.until(lambda: wanted.issubset(arrivals.keys), timeout, f"{n:,} suspensions")
            times = [arrivals.keys[number] for number in wanted]
            first, last = min(times) - started, max(times) - started
            cpu_used = cpu_seconds(services.pid("certificates")) - cpu_before
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

    with sqlite3.connect(database) as conn:
        still_valid = conn.execute(
            "SELECT count(*) FROM certificates WHERE issuing_body_uscc = ? AND status = 'valid'", (body,)).fetchone()[0]
        published = conn.execute(
            "SELECT count(*) FROM outbox WHERE event_type = ? AND published_at IS NOT NULL", (SUSPENDED,)).fetchone()[0]
    if still_valid:
        raise RuntimeError(f"{still_valid} certificates of the revoked body are still valid")
    progress(f"  platform: first suspension read after {first:.2f}s, all {n:,} after {last:.2f}s")

    section.details.update({
        "valid_certificates_of_body": n,
        "platform_seconds_to_first_event": first,
        "platform_seconds_to_all_events": last,
        "platform_events_per_second": n / last,
        "outbox_rows_published": published,
        "platform_cpu_seconds": cpu_used,
        "baseline_seconds_producing": produced,
        "baseline_seconds_to_all_read": baseline_seconds,
        "record_bytes": payloads.size(payloads.certificate_suspended(certs[0].number, body, certs[0].holder,
                                                                     "issuing_body_revoked")),
    })
    section.figures.append(Figure(
        "bulk cascade", f"revocation -> {n:,} suspended, all events read", "s", last, baseline_seconds,
        f"bare aiokafka producing {n:,} records of the same size, all read", "lower",
        target="< 10 s" if sizes.bulk_valid >= 100_000 else "", target_met=(last < 10) if sizes.bulk_valid >= 100_000 else None,
    ))
    return section
