"""Sustained event throughput of the certificates service consuming spot-check events, with
its outbox and inbox on: every event is one database transaction (inbox row, certificate,
history, outbox row), one offset commit, and one certificate.suspended event published.

Method, the same for the platform and the baselines: a backlog of N spot-check records is
produced while the consumer is stopped; the consumer is then started and the observer reads
its output. The rate is taken between the 5th and the 95th percentile of output arrivals, so
that neither start-up nor the tail counts.

Baselines: a bare aiokafka consume -> produce loop in its own process, on the same records:
- per record, with the platform's delivery contract (the output acknowledged by the broker
  before the offset is committed, one record at a time, as FastStream hands them over);
- batched (up to 1,000 records per poll, one commit per batch): the ceiling of the machine.
"""

from __future__ import annotations

import asyncio
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
from bench.report import Figure, Section, percentile, progress
from bench.services import (
    Cert,
    CpuSampler,
    Services,
    count_for_valid,
    load,
    valid_certificates,
)

SUSPENDED = "certificate.suspended.v1"


def steady(times: list[float], cpu: CpuSampler) -> dict[str, float]:
    """Events per second between the 5th and 95th percentile of arrival times, and the CPU the
    process under test used meanwhile (cores busy, milliseconds per event)."""
    ordered = sorted(times)
    low, high = percentile(ordered, 5), percentile(ordered, 95)
    inside = sum(1 for t in ordered if low <= t <= high)
    span = high - low
    used = cpu.between(low, high)
    return {
        "events_per_second": (inside - 1) / span if span > 0 else float("nan"),
        "cores_busy": used / span if span > 0 else float("nan"),
        "cpu_ms_per_event": 1000 * used / max(inside - 1, 1),
    }


async def _produce(producer: AIOKafkaProducer, topic: str, messages: list[payloads.Message]) -> None:
    futures = [await producer.send(topic, value, key=key.encode(), headers=headers) for key, value, headers in messages]
    await asyncio.gather(*futures)


@dataclass
class Backlog:
    warm: Cert  # handled first, so that the consumer has joined before the backlog is timed
    certs: list[Cert]
    messages: list[payloads.Message]  # one spot-check record per certificate
    template: Path  # the bare loops' output record


async def run(ctx: Context) -> Section:
    work = ctx.workdir("throughput")
    backlog = await _backlog(ctx, work)
    n = len(backlog.certs)
    section = Section("throughput")
    producer = relay_like_producer(ctx.bootstrap, "bench-throughput-driver")
    await producer.start()
    try:
        rates, spans = {}, {}
        for mode in ("record", "batch"):  # per record (the platform's contract), then batched (the ceiling)
            rates[mode], spans[mode] = await _bare_loop(ctx, work, producer, backlog, mode)
        rates["platform"], spans["platform"] = await _platform(ctx, work, producer, backlog, section)
    finally:
        await producer.stop()
    progress(f"  platform: {rates['platform']['events_per_second']:,.0f} events/s steady "
             f"({rates['platform']['cpu_ms_per_event']:.2f} ms CPU/event), {n:,} in {spans['platform']:.1f}s "
             "(including the service's start)")
    section.details.update({
        "events": n, "steady": rates, "seconds_to_last_output": spans,
        "record_bytes_in": payloads.size(backlog.messages[0]),
        "note": "platform span includes the uvicorn process start; the steady rate (5th-95th percentile of "
                "arrivals) does not",
    })
    _figures(section, rates)
    return section


async def _backlog(ctx: Context, work: Path) -> Backlog:
    n = ctx.sizes.throughput_events
    database = work / "certificates.db"
    await load(database, count_for_valid(n + 1) + 500)
    certs = valid_certificates(database, limit=n + 1)
    warm, certs = certs[0], certs[1:]
    if len(certs) < n:
        raise RuntimeError(f"only {len(certs)} valid certificates for {n} events")
    template = message_file(work / "suspended-template.jsonl", [
        payloads.certificate_suspended(certs[0].number, certs[0].body, certs[0].holder, "spot_check_failed")])
    return Backlog(warm, certs, [payloads.spot_check_failed(c.holder, c.number) for c in certs], template)


async def _bare_loop(ctx: Context, work: Path, producer: AIOKafkaProducer, backlog: Backlog,
                     mode: str) -> tuple[dict[str, float], float]:
    """A bare consume -> produce process over the same backlog: its steady rate, and the span."""
    n = len(backlog.certs)
    source, sink = f"bench.throughput.{mode}.in", f"bench.throughput.{mode}.out"
    await create_topics(ctx.bootstrap, [source, sink])
    await _produce(producer, source, backlog.messages)
    async with Observer(ctx.bootstrap, sink) as observer:
        args = ["relay", "--bootstrap", ctx.bootstrap, "--in", source, "--out", sink,
                "--template", str(backlog.template), "--group", f"bench-throughput-{mode}"]
        started = time.perf_counter()
        bare = BareKafka(*args, *(["--batch"] if mode == "batch" else []), log=work / f"bare-{mode}.log")
        cpu = CpuSampler(bare.pid).start()
        try:
            arrivals = await observer.count(SUSPENDED, n, timeout=max(120.0, n / 20))
        finally:
            await cpu.stop()
            bare.stop()
    rate, span = steady(arrivals.times, cpu), max(arrivals.times) - started
    progress(f"  bare loop ({mode}): {rate['events_per_second']:,.0f} events/s steady "
             f"({rate['cpu_ms_per_event']:.2f} ms CPU/event), {n:,} in {span:.1f}s")
    return rate, span


async def _platform(ctx: Context, work: Path, producer: AIOKafkaProducer, backlog: Backlog,
                    section: Section) -> tuple[dict[str, float], float]:
    """The certificates service started on the backlog, which built up while it was down."""
    services = Services(work, ctx.bootstrap)
    profile: Profile | None = None
    try:
        async with Observer(ctx.bootstrap, topics.CERTIFICATES) as observer:
            await services.start("certificates")
            key, value, headers = payloads.spot_check_failed(backlog.warm.holder, backlog.warm.number)
            await producer.send_and_wait(topics.SUPERVISION, value, key=key.encode(), headers=headers)
            await observer.key_arrival(SUSPENDED, backlog.warm.number, timeout=120)
            await services.stop("certificates")  # the backlog builds up while it is down
            await _produce(producer, topics.SUPERVISION, backlog.messages)
            started = time.perf_counter()
            await services.start("certificates")
            cpu = CpuSampler(services.pid("certificates")).start()
            if ctx.py_spy:
                profile = Profile(ctx.py_spy, services.pid("certificates"),
                                  ctx.results_dir / "profile-throughput-certificates.txt")
            times = await _all_suspended(observer, backlog)
            await cpu.stop()
        _stop_profile(section, profile)
        profile = None
    finally:
        if profile:
            profile.stop()
        services.stop_all()
    return steady(times, cpu), max(times) - started


async def _all_suspended(observer: Observer, backlog: Backlog) -> list[float]:
    n = len(backlog.certs)
    wanted = {c.number for c in backlog.certs}
    arrivals = observer.arrivals(SUSPENDED)
    await observer.until(lambda: wanted.issubset(arrivals.keys), max(300.0, n / 5), f"{n:,} suspensions")
    return [arrivals.keys[number] for number in wanted]


def _stop_profile(section: Section, profile: Profile | None) -> None:
    if profile:
        section.details["profile_certificates"] = summary = profile.stop()
        if summary:
            progress("  profile of the certificates service consuming spot checks:\n" + describe(summary))


def _figures(section: Section, rates: dict[str, dict[str, float]]) -> None:
    section.figures.append(Figure(
        "throughput", "spot checks handled (outbox + inbox), per-record baseline", "events/s",
        rates["platform"]["events_per_second"], rates["record"]["events_per_second"],
        "bare aiokafka consume -> produce, per record, commit after ack", "higher", target=">= 0.5x baseline",
        target_met=rates["platform"]["events_per_second"] >= 0.5 * rates["record"]["events_per_second"],
    ))
    section.figures.append(Figure(
        "throughput", "spot checks handled, vs batched bare loop (ceiling)", "events/s",
        rates["platform"]["events_per_second"], rates["batch"]["events_per_second"],
        "bare aiokafka consume -> produce, batches of up to 1,000", "higher",
    ))
