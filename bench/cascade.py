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
import contextlib
import json
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

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


@dataclass
class Rig:
    """Everything one cascade run needs, started once: the timed connection to supervision,
    the observer, the baseline's producer and bare relay, the pids whose CPU is counted."""

    timed: Connection
    observer: Observer
    producer: AIOKafkaProducer
    inspector: dict[str, str]
    inspections: list[str]
    pids: dict[str, int]
    cpu: dict[str, float] = field(default_factory=dict)


async def run(ctx: Context) -> Section:
    work = ctx.workdir("cascade")
    certs = await _certificates(ctx, work)
    section = Section("cascade")
    services = Services(work, ctx.bootstrap)
    profiles: dict[str, Profile] = {}
    try:
        async with contextlib.AsyncExitStack() as stack:
            rig = await _rig(ctx, work, services, certs, stack)
            if ctx.py_spy:
                profiles = {s: Profile(ctx.py_spy, services.pid(s), ctx.results_dir / f"profile-cascade-{s}.txt")
                            for s in ("supervision", "certificates")}
            platform, baseline = await _alternate(ctx, rig, certs)
            sizes_seen = dict(rig.observer.bytes_by_type)
        _stop_profiles(section, profiles)
        profiles = {}
    finally:
        for profile in profiles.values():
            profile.stop()
        services.stop_all()
    _report(section, ctx, platform, baseline, rig.cpu, sizes_seen)
    return section


async def _certificates(ctx: Context, work: Path) -> list[Cert]:
    """One valid certificate per holder, so each run is a spot check of a different enterprise."""
    total = ctx.sizes.cascade_warmup + ctx.sizes.cascade_runs
    database = work / "certificates.db"
    count = int(total * 1.3) + 200
    await load(database, count, enterprises=4 * count)
    certs = valid_certificates(database, limit=total, distinct_holders=True)
    if len(certs) < total:
        raise RuntimeError(f"only {len(certs)} valid certificates with distinct holders for {total} runs")
    return certs


async def _rig(ctx: Context, work: Path, services: Services, certs: list[Cert],
               stack: contextlib.AsyncExitStack) -> Rig:
    """Start the services, order the spot checks (not timed), start the bare relay and the observer."""
    await services.start("certificates", "supervision")
    inspector_ids = ["insp-bench-001", "insp-bench-002"]  # at least two per inspection, as a draw assigns
    regulator = token(Role.REGULATOR)
    limits = httpx.Limits(max_connections=8, max_keepalive_connections=8)
    async with httpx.AsyncClient(base_url=services.url("supervision"), timeout=30, limits=limits) as http:
        await _register_inspectors(http, regulator, inspector_ids)
        progress(f"  ordering {len(certs):,} product spot checks (setup, not timed)")
        inspections = await _order_spot_checks(http, regulator, inspector_ids, certs)
    bare = await _bare_relay(ctx, work, certs[0])
    stack.callback(bare.stop)
    producer = relay_like_producer(ctx.bootstrap, "bench-cascade-driver")
    await producer.start()
    stack.push_async_callback(producer.stop)
    observer = await stack.enter_async_context(Observer(ctx.bootstrap, topics.SUPERVISION, topics.CERTIFICATES,
                                                        OUT_TOPIC))
    timed = await stack.enter_async_context(Connection(services.url("supervision")))
    pids = {"supervision": services.pid("supervision"), "certificates": services.pid("certificates"),
            "bare relay": bare.pid}
    return Rig(timed, observer, producer, token(Role.INSPECTOR, inspector_id=inspector_ids[0]), inspections, pids,
               dict.fromkeys(pids, 0.0))


async def _bare_relay(ctx: Context, work: Path, cert: Cert) -> BareKafka:
    template = message_file(work / "suspended-template.jsonl", [
        payloads.certificate_suspended(cert.number, cert.body, cert.holder, "spot_check_failed")])
    await create_topics(ctx.bootstrap, [IN_TOPIC, OUT_TOPIC])
    bare = BareKafka("relay", "--bootstrap", ctx.bootstrap, "--in", IN_TOPIC, "--out", OUT_TOPIC,
                     "--template", str(template), "--group", "bench-cascade", log=work / "bare-relay.log")
    await bare.expect("ready")
    return bare


async def _alternate(ctx: Context, rig: Rig, certs: list[Cert]) -> tuple[list[dict[str, float]], list[float]]:
    """Blocks of bare round trips and platform cascades, alternating; CPU counted past the warm-up."""
    total, warmup = len(certs), ctx.sizes.cascade_warmup
    platform: list[dict[str, float]] = []
    baseline: list[float] = []
    progress(f"  {total:,} cascades and {total:,} bare round trips, alternating in blocks of {BLOCK}")
    for start in range(0, total, BLOCK):
        block = list(range(start, min(start + BLOCK, total)))
        share = len([i for i in block if i >= warmup]) / len(block)
        with _cpu_of(rig, ("bare relay",), share):
            for i in block:
                baseline.append(await _bare_round_trip(rig.producer, rig.observer, certs[i]))
        with _cpu_of(rig, ("supervision", "certificates"), share):
            for i in block:
                platform.append(await _cascade(rig.timed, rig.observer, rig.inspector, rig.inspections[i],
                                               certs[i].number))
    return platform, baseline


@contextlib.contextmanager
def _cpu_of(rig: Rig, names: tuple[str, ...], share: float) -> Iterator[None]:
    """Add the CPU `names` use meanwhile, times `share` (the block's part past the warm-up)."""
    before = {name: cpu_seconds(rig.pids[name]) for name in names}
    yield
    for name in names:
        rig.cpu[name] += (cpu_seconds(rig.pids[name]) - before[name]) * share


def _stop_profiles(section: Section, profiles: dict[str, Profile]) -> None:
    for service, profile in profiles.items():
        section.details[f"profile_{service}"] = profile_summary = profile.stop()
        if profile_summary:
            progress(f"  profile of the {service} service during the cascades:\n" + describe(profile_summary))


def _report(section: Section, ctx: Context, platform: list[dict[str, float]], baseline: list[float],
            cpu: dict[str, float], sizes_seen: dict[str, int]) -> None:
    warmup = ctx.sizes.cascade_warmup
    measured, raw = platform[warmup:], baseline[warmup:]
    total_s, base_s = summary([r["total"] for r in measured]), summary(raw)
    section.details.update({
        "runs": len(measured), "warmup_runs": warmup, "platform": total_s, "baseline": base_s,
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
    targets = {"p50": 12.0, "p99": 30.0}
    for p in ("p50", "p95", "p99"):
        value, aim = total_s[f"{p}_ms"], targets.get(p)
        section.figures.append(Figure(
            "cascade latency", f"spot check -> certificate.suspended {p}", "ms", value, base_s[f"{p}_ms"],
            "bare aiokafka produce -> consume -> produce -> consume", "lower",
            target=f"< {aim:g} ms" if aim else "", target_met=(value < aim) if aim else None,
        ))


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
