"""`make soak` (`python -m bench.soak`): CONFORMITY_SOAK_MINUTES (default 30) of steady, mixed
load through the whole platform, sampling every process's memory and every consumer group's lag,
and checking that neither grows once warm.

The platform and the load are `bench/soak_load.py`'s: the five services and the certificates
service's public reader workers on the secured local broker; issuance by an approved body,
failed product spot checks recorded by an inspector (the cascade supervision -> certificates
-> notifications and supervision runs on the events), proficiency rounds opened, submitted to
by the labs and closed, one-number and batch verification, webhooks delivered to a local
receiver. Rates: CONFORMITY_SOAK_VERIFY_PER_SECOND (100), _SPOT_CHECKS_PER_SECOND (5),
_ISSUE_PER_SECOND (3), _ROUND_EVERY_SECONDS (30).

Every CONFORMITY_SOAK_SAMPLE_SECONDS (default 5): the resident memory (VmRSS) of every process
(each service, each reader worker and their supervisor, the broker's JVM, this harness) and the
lag of every consumer group (the end offsets of the topics it reads minus its committed
offsets). When the load stops, the lag is sampled every second until every group has caught up.

The bounds, per series, over the warm part of the run (after the first WARM, 5 minutes, or a
sixth of a shorter run) comparing its first WINDOW (5 minutes, or a third of a shorter run)
with the last one:

- memory: the last window's mean at most MEMORY_GROWTH (10%) above the first warm window's;
- lag, no growth: the last window's mean at most 1.5 times the first's plus LAG_SMALL records;
- lag, recovers: never above LAG_SMALL records for longer than LAG_RECOVERY_SECONDS in a row;
- lag, drains: every group at most LAG_SMALL once the load stops, within DRAIN_SECONDS.

Written to bench/results/soak-<time>.csv (time_s, kind, name, value) and .png; the table is
printed, and the exit status is 1 when a bound is broken. Not run in CI.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from aiokafka.structs import TopicPartition

from conformity_devstack.apps import SERVICES
from conformity_devstack.kafka import LocalKafka
from conformity_shared import topics
from conformity_shared.topics import dead_letters as dead_letter_topic

from bench.kafka_tools import BASELINE_ACCESS
from bench.report import progress
from bench.services import process_tree
from bench.soak_load import Counts, load_tasks, setting, start_platform

RESULTS = Path(__file__).resolve().parent / "results"
MEMORY_GROWTH = 0.10  # last window's mean over the first warm window's, at most
LAG_SMALL = 50  # records: "caught up" for a group, whatever its partitions
LAG_RECOVERY_SECONDS = 30.0  # above LAG_SMALL for at most this long in a row, once warm
DRAIN_SECONDS = 60.0  # after the load stops, every group caught up within this


@dataclass
class Samples:
    rows: list[tuple[float, str, str, float]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    load_ended: float | None = None  # seconds into the run when the load stopped

    def now(self) -> float:
        return round(time.monotonic() - self.started, 1)

    def add(self, kind: str, name: str, value: float) -> None:
        self.rows.append((self.now(), kind, name, value))


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


async def group_lag(admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer, group: str) -> int:
    committed = await admin.list_consumer_group_offsets(group)
    if not committed:
        return 0
    ends = await consumer.end_offsets(list(committed))
    return sum(max(0, ends[tp] - meta.offset) for tp, meta in committed.items() if meta.offset >= 0)


async def sample_forever(bootstrap: str, processes: dict[str, int], samples: Samples, every: float) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **BASELINE_ACCESS())
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, **BASELINE_ACCESS())
    await admin.start()
    await consumer.start()
    try:
        while True:
            sample_memory(processes, samples)
            await sample_lag(admin, consumer, samples)
            await asyncio.sleep(every)
    finally:
        await consumer.stop()
        await admin.close()


def sample_memory(processes: dict[str, int], samples: Samples) -> None:
    """Each process and its children (uvicorn's supervisor and workers), the harness alone
    (its children are the services, sampled under their own names)."""
    for name, root in processes.items():
        for pid in [root] if name == "harness" else process_tree(root):
            if (mib := rss_mib(pid)) is not None:
                samples.add("rss_mib", name if pid == root else f"{name} {role(pid)} pid {pid}", mib)


def role(pid: int) -> str:
    """What a child process is, from its command line (uvicorn's workers are multiprocessing
    spawns; the resource tracker is multiprocessing's own)."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "child"
    return "resource tracker" if "resource_tracker" in command else "worker"


async def sample_lag(admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer, samples: Samples) -> dict[str, int]:
    lags = {}
    for group, _ in await admin.list_consumer_groups():
        lags[group] = await group_lag(admin, consumer, group)
        samples.add("lag", group, lags[group])
    return lags


async def drain(bootstrap: str, samples: Samples, timeout: float) -> float | None:
    """After the load: seconds until every group's lag is at most LAG_SMALL (None if never)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **BASELINE_ACCESS())
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, **BASELINE_ACCESS())
    await admin.start()
    await consumer.start()
    started = time.monotonic()
    try:
        while time.monotonic() - started < timeout:
            lags = await sample_lag(admin, consumer, samples)
            if all(lag <= LAG_SMALL for lag in lags.values()):
                return time.monotonic() - started
            await asyncio.sleep(1.0)
        return None
    finally:
        await consumer.stop()
        await admin.close()


async def dead_letters(bootstrap: str) -> dict[str, int]:
    """Records on each service's dead-letter topic (events a consumer could not handle)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, **BASELINE_ACCESS())
    await consumer.start()
    try:
        names = [dead_letter_topic(s) for s in SERVICES if topics.CONSUMES.get(s)]
        cluster = await consumer._client.fetch_all_metadata()  # noqa: SLF001 - every topic, not a subscription's
        partitions = [TopicPartition(t, p) for t in names for p in sorted(cluster.partitions_for_topic(t) or ())]
        ends = await consumer.end_offsets(partitions) if partitions else {}
        return {t: sum(ends[tp] for tp in partitions if tp.topic == t) for t in names}
    finally:
        await consumer.stop()


async def soak(work: Path, broker: LocalKafka) -> tuple[Samples, Counts, float | None]:
    minutes = setting("MINUTES", 30)
    platform = await start_platform(work, broker, minutes)
    samples, counts = Samples(), Counts()
    every = setting("SAMPLE_SECONDS", 5)
    progress(f"soak: {minutes:g} minutes of mixed load; sampling every {every:g}s")
    tasks = [asyncio.create_task(sample_forever(broker.bootstrap_servers, platform.processes, samples, every)),
             *load_tasks(platform, counts)]
    try:
        await asyncio.sleep(minutes * 60)
        for task in tasks[1:]:
            task.cancel()
        samples.load_ended = samples.now()
        drained = await drain(broker.bootstrap_servers, samples, DRAIN_SECONDS)
        for topic, records in (await dead_letters(broker.bootstrap_servers)).items():
            counts.requests[f"dead letters on {topic}"] = records
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await platform.receiver.stop()
        platform.services.stop_all()
    return samples, counts, drained


@dataclass
class Verdict:
    kind: str
    name: str
    first: float  # mean over the first warm window
    last: float  # mean over the last window
    low: float
    high: float  # over the warm part, under load
    bound: str
    held: bool


def windows(samples: Samples) -> tuple[float, float, float]:
    """(warm from, first window's end, last window's start), in seconds into the run."""
    end = samples.load_ended or max((t for t, *_ in samples.rows), default=0.0)
    warm = min(300.0, end / 6)
    window = min(300.0, end / 3)
    return warm, warm + window, end - window


def verdicts(samples: Samples, drained: float | None) -> list[Verdict]:
    warm, first_end, last_start = windows(samples)
    end = samples.load_ended or float("inf")
    series: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for t, kind, name, value in samples.rows:
        if warm <= t <= end:
            series.setdefault((kind, name), []).append((t, value))
    found = []
    for (kind, name), points in sorted(series.items()):
        first = mean([v for t, v in points if t <= first_end], points[0][1])
        last = mean([v for t, v in points if t >= last_start], points[-1][1])
        values = [v for _, v in points]
        held, bound = (memory_bound(first, last) if kind == "rss_mib"
                       else lag_bound(first, last, points, drained))
        found.append(Verdict(kind, name, first, last, min(values), max(values), bound, held))
    return found


def mean(values: list[float], otherwise: float) -> float:
    return sum(values) / len(values) if values else otherwise


def memory_bound(first: float, last: float) -> tuple[bool, str]:
    limit = first * (1 + MEMORY_GROWTH)
    return last <= limit, f"last <= first + {MEMORY_GROWTH:.0%} ({limit:.1f})"


def lag_bound(first: float, last: float, points: list[tuple[float, float]],
              drained: float | None) -> tuple[bool, str]:
    """No growth, back under LAG_SMALL within LAG_RECOVERY_SECONDS, drained once the load stops."""
    longest, since = 0.0, None
    for t, value in points:
        if value > LAG_SMALL:
            since = t if since is None else since
            longest = max(longest, t - since)
        else:
            since = None
    grows = last > 1.5 * first + LAG_SMALL
    held = not grows and longest <= LAG_RECOVERY_SECONDS and drained is not None
    drain = f"in {drained:.0f}s" if drained is not None else "NEVER"
    return held, (f"last <= 1.5 first + {LAG_SMALL}; over {LAG_SMALL} for {longest:.0f}s at most "
                  f"(<= {LAG_RECOVERY_SECONDS:.0f}); all groups drained {drain}")


def table(found: list[Verdict]) -> list[str]:
    lines = ["| series | first warm window (mean) | last window (mean) | min | max | bound | held |",
             "|---|---:|---:|---:|---:|---|---|"]
    for v in found:
        unit = "MiB" if v.kind == "rss_mib" else "records"
        label = f"RSS {v.name}" if v.kind == "rss_mib" else f"lag, group `{v.name}`"
        lines.append(f"| {label} | {v.first:.1f} {unit} | {v.last:.1f} {unit} | {v.low:.1f} | {v.high:.1f} | "
                     f"{v.bound} | {'yes' if v.held else '**NO**'} |")
    return lines


def write(samples: Samples, stem: Path) -> tuple[Path, Path]:
    csv_path, png_path = stem.with_suffix(".csv"), stem.with_suffix(".png")
    with csv_path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["time_s", "kind", "name", "value"])
        writer.writerows(samples.rows)
    plot(samples, png_path)
    return csv_path, png_path


def plot(samples: Samples, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, figsize=(12, 11), sharex=True, height_ratios=[3, 1, 2])
    panels = [(axes[0], "rss_mib", lambda n: n != "kafka broker", "resident memory (MiB)"),
              (axes[1], "rss_mib", lambda n: n == "kafka broker", "broker JVM (MiB)"),
              (axes[2], "lag", lambda n: True, "consumer group lag (records)")]
    warm, first_end, last_start = windows(samples)
    for axis, kind, wanted, label in panels:
        for name in sorted({n for _, k, n, _ in samples.rows if k == kind and wanted(n)}):
            points = [(t, v) for t, k, n, v in samples.rows if k == kind and n == name]
            axis.plot([t for t, _ in points], [v for _, v in points], label=name, linewidth=1)
        axis.axvspan(warm, first_end, color="tab:green", alpha=0.08)
        axis.axvspan(last_start, samples.load_ended or last_start, color="tab:red", alpha=0.08)
        axis.set_ylabel(label)
        axis.legend(fontsize=7, loc="upper left", ncol=2)
        axis.grid(alpha=0.3)
    axes[2].set_xlabel("seconds into the soak (green: first warm window; red: last window; load stops at the red "
                       "band's end)")
    fig.suptitle("soak: resident memory of every process and lag of every consumer group")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> int:
    scratch = Path(tempfile.mkdtemp(prefix="conformity-soak-"))
    broker = LocalKafka(scratch / "kafka").start()
    os.environ.update(broker.service_env())
    started, load_average = dt.datetime.now(dt.UTC), os.getloadavg()[0]
    try:
        samples, counts, drained = asyncio.run(soak(scratch, broker))
    finally:
        broker.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    csv_path, png_path = write(samples, RESULTS / f"soak-{started:%Y%m%dT%H%M%SZ}")
    found = verdicts(samples, drained)
    warm, first_end, last_start = windows(samples)
    print(f"soak started {started:%Y-%m-%d %H:%M} UTC; load average {load_average:.1f} at the start, "
          f"{os.getloadavg()[0]:.1f} at the end; warm from {warm:.0f}s, first window to {first_end:.0f}s, "
          f"last from {last_start:.0f}s, load stopped at {samples.load_ended}s")
    print("\n".join(table(found)))
    print("requests and events: " + ", ".join(f"{k} {v:,}" for k, v in sorted(counts.requests.items())))
    print(f"soak: {len(samples.rows):,} samples -> {csv_path}, {png_path}")
    broken = [f"{v.kind} {v.name}" for v in found if not v.held]
    print("soak: every bound held" if not broken else f"soak: BOUNDS BROKEN: {', '.join(broken)}")
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
