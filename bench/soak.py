"""`make soak` (`python -m bench.soak`): steady mixed load for CONFORMITY_SOAK_MINUTES (default
30), sampling every process's memory and every consumer group's lag, to show that neither grows.

The platform as `make bench` runs it: the local broker, the certificates service (its
consumer, relay and scheduler on), two public reader workers, and supervision's event stream
fed as supervision's relay would. The load, all at once and steady:

- one-number verifications, CONFORMITY_SOAK_VERIFY_PER_SECOND (default 200), on 4 connections;
- a batch verification of 1,000 numbers every second;
- failed spot checks, CONFORMITY_SOAK_SPOT_CHECKS_PER_SECOND (default 20), each naming a
  certificate not suspended before, which the certificates service suspends (inbox, update,
  history, outbox, relay).

Every CONFORMITY_SOAK_SAMPLE_SECONDS (default 5): the resident memory (VmRSS) of every process
of the platform (services, reader workers, the broker's JVM, this harness) and the lag of every
consumer group (the end offsets of the topics it reads minus its committed offsets). Written to
bench/results/soak-<time>.csv (time_s, kind, name, value) and soak-<time>.png; the bounds
(first and last minute, minimum, maximum) are printed at the end. Not run in CI.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import os
import random
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from conformity_shared import topics
from conformity_devstack.kafka import LocalKafka

from bench import payloads, verification
from bench.http_client import Connection
from bench.kafka_tools import BASELINE_ACCESS, create_topics, relay_like_producer
from bench.report import progress
from bench.services import Services, load, process_tree, valid_certificates

RESULTS = Path(__file__).resolve().parent / "results"


def _setting(name: str, default: float) -> float:
    return float(os.environ.get(f"CONFORMITY_SOAK_{name}", default))


@dataclass
class Samples:
    rows: list[tuple[float, str, str, float]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    requests: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, kind: str, name: str, value: float) -> None:
        self.rows.append((round(time.monotonic() - self.started, 1), kind, name, value))


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
            for name, root in processes.items():
                # The reader's supervisor and its workers; every other process alone (the
                # harness's children are the services, sampled under their own names).
                for index, pid in enumerate(process_tree(root) if name.endswith("-public") else [root]):
                    if (mib := rss_mib(pid)) is not None:
                        samples.add("rss_mib", name if index == 0 else f"{name}/{pid}", mib)
            for group, _ in await admin.list_consumer_groups():
                samples.add("lag", group, await group_lag(admin, consumer, group))
            await asyncio.sleep(every)
    finally:
        await consumer.stop()
        await admin.close()


async def verify_steadily(url: str, numbers: list[str], per_second: float, samples: Samples) -> None:
    """One-number verifications at a steady rate on 4 connections, and a batch every second."""
    async def singles(connection: Connection, rate: float) -> None:
        while True:
            started = time.monotonic()
            status, _ = await connection.request("GET", f"/public/certificates/{random.choice(numbers)}")
            samples.requests[f"GET {status}"] += 1
            await asyncio.sleep(max(0.0, 1 / rate - (time.monotonic() - started)))

    async def batches(connection: Connection) -> None:
        while True:
            status, _ = await connection.request("POST", "/public/certificates/verify",
                                                 {"numbers": random.sample(numbers, min(1000, len(numbers)))})
            samples.requests[f"POST {status}"] += 1
            await asyncio.sleep(1.0)

    connections = [Connection(url) for _ in range(5)]
    for connection in connections:
        await connection.__aenter__()
    try:
        await asyncio.gather(*(singles(c, per_second / 4) for c in connections[:4]), batches(connections[4]))
    finally:
        for connection in connections:
            await connection.__aexit__()


async def spot_checks_steadily(bootstrap: str, certs: list, per_second: float, samples: Samples) -> None:
    producer = relay_like_producer(bootstrap, "soak-supervision")
    await producer.start()
    try:
        for cert in certs:
            started = time.monotonic()
            key, value, headers = payloads.spot_check_failed(cert.holder, cert.number)
            await producer.send_and_wait(topics.SUPERVISION, value, key=key.encode(), headers=headers)
            samples.requests["spot checks"] += 1
            await asyncio.sleep(max(0.0, 1 / per_second - (time.monotonic() - started)))
    finally:
        await producer.stop()


async def platform(work: Path, broker: LocalKafka) -> tuple[Services, str, list, dict[str, int]]:
    """The certificates service over a loaded data set, and its public reader workers."""
    minutes, rate = _setting("MINUTES", 30), _setting("SPOT_CHECKS_PER_SECOND", 20)
    needed = int(minutes * 60 * rate * 1.2) + 2000
    database = work / "certificates.db"
    await load(database, int(needed / 0.9) + 1000)
    certs = valid_certificates(database, limit=needed)
    await create_topics(broker.bootstrap_servers, [*topics.ALL, topics.dead_letters("certificates")])
    services = Services(work, broker.bootstrap_servers, env={
        **verification.service_env(f"sqlite+aiosqlite:///{database}"), "CONFORMITY_CONSUMERS_ENABLED": "true",
        "CONFORMITY_SCHEDULER_INTERVAL_SECONDS": "60"})
    await services.start("certificates")
    url = await services.start_public_reader("certificates", verification.READER, 2)
    processes = {"certificates": services.pid("certificates"), "certificates-public": services.reader_pid("certificates"),
                 "kafka broker": broker.nodes[0].process.pid, "harness": os.getpid()}
    return services, url, certs, processes


async def soak(work: Path, broker: LocalKafka) -> Samples:
    minutes = _setting("MINUTES", 30)
    services, url, certs, processes = await platform(work, broker)
    samples = Samples()
    numbers = [c.number for c in certs]
    progress(f"soak: {minutes:g} minutes of mixed load; sampling every {_setting('SAMPLE_SECONDS', 5):g}s")
    tasks = [asyncio.create_task(t) for t in (
        sample_forever(broker.bootstrap_servers, processes, samples, _setting("SAMPLE_SECONDS", 5)),
        verify_steadily(url, numbers, _setting("VERIFY_PER_SECOND", 200), samples),
        spot_checks_steadily(broker.bootstrap_servers, certs, _setting("SPOT_CHECKS_PER_SECOND", 20), samples))]
    try:
        await asyncio.sleep(minutes * 60)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        services.stop_all()
    return samples


def bounds(samples: Samples) -> list[str]:
    """Per series: first minute's mean, last minute's mean, minimum and maximum."""
    series: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for t, kind, name, value in samples.rows:
        series[(kind, name)].append((t, value))
    end = max((t for t, *_ in samples.rows), default=0.0)
    lines = []
    for (kind, name), points in sorted(series.items()):
        first = [v for t, v in points if t <= 60] or [points[0][1]]
        last = [v for t, v in points if t >= end - 60] or [points[-1][1]]
        values = [v for _, v in points]
        unit = "MiB" if kind == "rss_mib" else "records"
        lines.append(f"{kind:8} {name:32} first minute {sum(first) / len(first):9.1f}  last minute "
                     f"{sum(last) / len(last):9.1f}  min {min(values):9.1f}  max {max(values):9.1f} {unit}")
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

    fig, (rss, lag) = plt.subplots(2, 1, figsize=(11, 8), sharex=True)
    for kind, axis in (("rss_mib", rss), ("lag", lag)):
        names = sorted({name for _, k, name, _ in samples.rows if k == kind})
        for name in names:
            points = [(t, v) for t, k, n, v in samples.rows if k == kind and n == name]
            axis.plot([t for t, _ in points], [v for _, v in points], label=name)
        axis.legend(fontsize=7, loc="upper left")
        axis.grid(alpha=0.3)
    rss.set_ylabel("resident memory (MiB)")
    lag.set_ylabel("consumer group lag (records)")
    lag.set_xlabel("seconds into the soak")
    fig.suptitle("soak: memory of every process and lag of every consumer group")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> int:
    scratch = Path(tempfile.mkdtemp(prefix="conformity-soak-"))
    broker = LocalKafka(scratch / "kafka").start()
    os.environ.update(broker.service_env())
    try:
        samples = asyncio.run(soak(scratch, broker))
    finally:
        broker.stop()
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / f"soak-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}"
    csv_path, png_path = write(samples, stem)
    print("\n".join(bounds(samples)))
    print("requests and events sent: " + ", ".join(f"{k} {v:,}" for k, v in sorted(samples.requests.items())))
    print(f"soak: {len(samples.rows):,} samples -> {csv_path}, {png_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
