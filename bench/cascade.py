"""Cascade latency (DESIGN flow 1): from the HTTP request that records a failed product spot
check to `certificate.suspended` seen by a consumer of `certificates.events`.

Platform: supervision and certificates as uvicorn processes, each with its SQLite database,
outbox and inbox. Per run, an assigned inspector records a failed spot check naming one valid
certificate (POST /inspections/{id}/result, on a kept-alive connection); the clock stops when
the observer reads that certificate's suspension.

Baseline: the same two hops with nothing but aiokafka. The harness produces the spot-check
record (as supervision's relay would), a bare process consumes it and produces a
certificate.suspended record of the same size, committing after the broker's ack (as the
certificates service would), and the same observer reads it. Same broker, same partitions,
same producer settings as the relay. Runs alternate in blocks, so that both see the same
machine.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid

import httpx
from aiokafka import AIOKafkaProducer
from conformity_shared import topics, uscc
from conformity_shared.auth import Role
from conformity_devstack.testing import token

from bench import payloads
from bench.context import Context
from bench.http_client import Connection
from bench.kafka_tools import (
    BareKafka,
    Observer,
    create_topics,
    message_file,
    relay_like_producer,
)
from bench.profiling import Profile, describe
from bench.report import Figure, Section, progress, summary
from bench.services import Cert, Services, cpu_seconds, load, valid_certificates

BLOCK = 50  # runs per block; blocks of platform and baseline alternate
SUSPENDED = "certificate.suspended.v1"
SPOT_CHECK = "supervision.spot_check_failed.v1"
IN_TOPIC, OUT_TOPIC = "bench.cascade.in", "bench.cascade.out"


async def run(ctx: Context) -> Section:
    sizes = ctx.sizes
    total = sizes.cascade_warmup + sizes.cascade_runs
    work = ctx.workdir("cascade")
    database = work / "certificates.db"
    # One certificate per holder, so each run is a spot check of a different enterprise.
    count = int(total * 1.3) + 200
    await load(database, count, enterprises=4 * count)
    certs = valid_certificates(database, limit=total, distinct_holders=True)
    if len(certs) < total:
        raise RuntimeError(f"only {len(certs)} valid certificates with distinct holders for {total} runs")

    section = Section("cascade")
    services = Services(work, ctx.bootstrap)
    bare: BareKafka | None = None
    profiles: dict[str, Profile] = {}
    try:
        await services.start("certificates", "supervision")
        inspector_ids = ["insp-bench-001", "insp-bench-002"]  # at least two per inspection, as a draw assigns
        regulator = token(Role.REGULATOR)
        inspector = token(Role.INSPECTOR, inspector_id=inspector_ids[0])
        limits = httpx.Limits(max_connections=8, max_keepalive_connections=8)
        async with httpx.AsyncClient(base_url=services.url("supervision"), timeout=30, limits=limits) as http:
            await _register_inspectors(http, regulator, inspector_ids)
            progress(f"  ordering {total:,} product spot checks (setup, not timed)")
            inspections = await _order_spot_checks(http, regulator, inspector_ids, certs)

            template = message_file(work / "suspended-template.jsonl", [
                payloads.certificate_suspended(certs[0].number, certs[0].body, certs[0].holder, "spot_check_failed")])
            await create_topics(ctx.bootstrap, [IN_TOPIC, OUT_TOPIC])
            bare = BareKafka("relay", "--bootstrap", ctx.bootstrap, "--in", IN_TOPIC, "--out", OUT_TOPIC,
                             "--template", str(template), "--group", "bench-cascade", log=work / "bare-relay.log")
            await bare.expect("ready")
            producer = relay_like_producer(ctx.bootstrap, "bench-cascade-driver")
            await producer.start()
            try:
                async with Observer(ctx.bootstrap, topics.SUPERVISION, topics.CERTIFICATES, OUT_TOPIC) as observer:
                    if ctx.py_spy:
                        profiles = {s: Profile(ctx.py_spy, services.pid(s), ctx.results_dir / f"profile-cascade-{s}.txt")
                                    for s in ("supervision", "certificates")}
                    platform: list[dict[str, float]] = []
                    baseline: list[float] = []
                    progress(f"  {total:,} cascades and {total:,} bare round trips, alternating in blocks of {BLOCK}")
                    pids = {"supervision": services.pid("supervision"), "certificates": services.pid("certificates"),
                            "bare relay": bare.pid}
                    cpu = dict.fromkeys(pids, 0.0)
                    async with Connection(services.url("supervision")) as timed:
                        for start in range(0, total, BLOCK):
                            block = list(range(start, min(start + BLOCK, total)))
                            counted = [i for i in block if i >= sizes.cascade_warmup]
                            before = cpu_seconds(pids["bare relay"])
                            for i in block:
                                baseline.append(await _bare_round_trip(producer, observer, certs[i]))
                            cpu["bare relay"] += (cpu_seconds(pids["bare relay"]) - before) * len(counted) / len(block)
                            before = {s: cpu_seconds(pids[s]) for s in ("supervision", "certificates")}
                            for i in block:
                                platform.append(await _cascade(timed, observer, inspector, inspections[i],
                                                               certs[i].number))
                            for s in before:
                                cpu[s] += (cpu_seconds(pids[s]) - before[s]) * len(counted) / len(block)
                    sizes_seen = dict(observer.bytes_by_type)
            finally:
                await producer.stop()
        for service, profile in profiles.items():
            section.details[f"profile_{service}"] = profile_summary = profile.stop()
            if profile_summary:
                progress(f"  profile of the {service} service during the cascades:\n" + describe(profile_summary))
        profiles = {}
    finally:
        for profile in profiles.values():
            profile.stop()
        if bare:
            bare.stop()
        services.stop_all()

    measured = platform[sizes.cascade_warmup:]
    raw = baseline[sizes.cascade_warmup:]
    total_s = summary([r["total"] for r in measured])
    base_s = summary(raw)
    section.details.update({
        "runs": len(measured), "warmup_runs": sizes.cascade_warmup,
        "platform": total_s, "baseline": base_s,
        "platform_breakdown": {
            "http_answer": summary([r["http"] for r in measured]),
            "request_to_spot_check_event": summary([r["spot"] for r in measured]),
            "spot_check_event_to_suspension_event": summary([r["total"] - r["spot"] for r in measured]),
        },
        "record_bytes_seen": sizes_seen,
        "cpu_ms_per_run": {name: 1000 * seconds / len(measured) for name, seconds in cpu.items()},
        "baseline_setup": "harness produces (relay settings) -> bare process consumes, produces, waits ack, commits "
                          "-> observer",
    })
    for p in ("p50", "p95", "p99"):
        target = "< 50 ms" if p == "p99" else ""
        value = total_s[f"{p}_ms"]
        section.figures.append(Figure(
            "cascade latency", f"spot check -> certificate.suspended {p}", "ms", value, base_s[f"{p}_ms"],
            "bare aiokafka produce -> consume -> produce -> consume", "lower",
            target=target, target_met=(value < 50) if target else None,
        ))
    return section


async def _register_inspectors(http: httpx.AsyncClient, regulator: dict[str, str], inspector_ids: list[str]) -> None:
    for index, inspector_id in enumerate(inspector_ids):
        answer = await http.post("/inspectors", headers=regulator, json={
            "id": inspector_id, "name": "Zhang San", "organisation": uscc.make(random.Random(7 + index)),
            "region": "110000"})
        answer.raise_for_status()


async def _order_spot_checks(http: httpx.AsyncClient, regulator: dict[str, str], inspector_ids: list[str],
                             certs: list[Cert]) -> list[str]:
    gate = asyncio.Semaphore(4)

    async def order(cert: Cert) -> str:
        async with gate:
            answer = await http.post("/inspections", headers=regulator, json={
                "target_uscc": cert.holder, "target_kind": "enterprise", "kind": "product_spot_check",
                "inspector_ids": inspector_ids})
            answer.raise_for_status()
            return answer.json()["id"]

    return list(await asyncio.gather(*(order(c) for c in certs)))


async def _cascade(http: Connection, observer: Observer, inspector: dict[str, str], inspection: str,
                   number: str) -> dict[str, float]:
    headers = {**inspector, "X-Correlation-ID": str(uuid.uuid4())}
    body = json.dumps({"findings": payloads.FINDINGS,
                       "samples": [{"certificate_number": number, "passed": False, "finding": "overheating"}]}).encode()
    started = time.perf_counter()
    status, answer = await http.request("POST", f"/inspections/{inspection}/result", body, headers)
    answered = time.perf_counter()
    if status != 200:
        raise RuntimeError(f"recording the spot check failed: {status} {answer[:300]!r}")
    spot = await observer.key_arrival(SPOT_CHECK, inspection, timeout=60)
    suspended = await observer.key_arrival(SUSPENDED, number, timeout=60)
    return {"total": suspended - started, "http": answered - started, "spot": spot - started}


async def _bare_round_trip(producer: AIOKafkaProducer, observer: Observer, cert: Cert) -> float:
    key, value, headers = payloads.spot_check_failed(cert.holder, cert.number)
    key = str(uuid.uuid4())  # a fresh key per run: the observer waits for exactly this one
    started = time.perf_counter()
    sent = await producer.send(IN_TOPIC, value, key=key.encode(), headers=headers)
    arrived = await observer.key_arrival(SUSPENDED, key, timeout=60)
    await sent
    return arrived - started
