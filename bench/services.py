"""The platform under test: services as OS processes (as `make run` starts them) and the data
sets they serve, loaded with the certificates service's own bulk loader."""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from certificates import loader
from conformity_devstack.kafka import cache_root, free_port
from conformity_devstack.stack import Stack
from conformity_devstack.testing import identity_env

from bench.report import progress

SEED = 2026
# Bumped when the harness starts to need something else of a cached data set.
DATA_VERSION = "1"
VALID_SHARE = 0.90  # the loader's status mix (loader.STATUS_MIX): about 90% valid


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path.resolve()}"


class Services:
    """Services started by one benchmark, each a uvicorn process with its own database."""

    def __init__(self, workdir: Path, bootstrap: str, env: dict[str, str] | None = None) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        # Development services trusting the tests' key, which the harness's tokens are signed with.
        self.stack = Stack(workdir, bootstrap, env={**identity_env(), **(env or {})})
        self.readers: dict[str, subprocess.Popen[bytes]] = {}

    async def start(self, *services: str) -> None:
        for service in services:
            started = time.monotonic()
            await asyncio.to_thread(self.stack.start_service, service, 180.0)
            progress(f"  {service} up at {self.stack.url(service)} in {time.monotonic() - started:.1f}s (pid {self.pid(service)})")

    async def stop(self, service: str) -> None:
        await asyncio.to_thread(self.stack.stop_service, service)

    def url(self, service: str) -> str:
        return self.stack.url(service)

    def pid(self, service: str) -> int:
        return self.stack.processes[service].pid

    async def start_public_reader(self, service: str, module: str, workers: int) -> str:
        """`workers` read-only processes serving the service's public verification (`module`'s
        launcher: `certificates-public`), on a port of their own beside the service; their URL."""
        name = f"{service}-public"
        port = free_port()
        log = open(self.stack.workdir / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        self.readers[name] = subprocess.Popen(
            [sys.executable, "-m", module, "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
             "--log-level", "warning"],
            env=self.stack.environment(service), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        url = f"http://127.0.0.1:{port}"
        started = time.monotonic()
        await asyncio.to_thread(_wait_healthy, self.readers[name], url, 180.0)
        progress(f"  {name} ({workers} workers) up at {url} in {time.monotonic() - started:.1f}s "
                 f"(pid {self.readers[name].pid})")
        return url

    def reader_pid(self, service: str) -> int:
        return self.readers[f"{service}-public"].pid

    def stop_all(self) -> None:
        for process in self.readers.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.readers.clear()
        self.stack.stop()


def _wait_healthy(process: subprocess.Popen[bytes], url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=3) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} not healthy after {timeout:.0f}s")


async def load(path: Path, count: int, *, seed: int = SEED, bodies: int | None = None,
               enterprises: int | None = None) -> loader.LoadReport:
    """Load `count` certificates with the service's bulk loader, reporting progress when long."""
    step = max(count // 10, 1)
    marks = {"next": step}
    started = time.monotonic()

    def update(done: int) -> None:
        if count >= 500_000 and done >= marks["next"]:
            marks["next"] += step
            rate = done / max(time.monotonic() - started, 1e-9)
            progress(f"  loaded {done:,}/{count:,} certificates ({rate:,.0f}/s)")

    report = await loader.load(sqlite_url(path), count, seed=seed, bodies=bodies, enterprises=enterprises,
                               progress=update)
    progress(f"  loaded {report.certificates:,} certificates into {path.name} in {report.seconds:.1f}s "
             f"({report.rows_per_second:,.0f}/s)")
    return report


def count_for_valid(valid: int) -> int:
    """How many certificates to load for about `valid` valid ones."""
    return math.ceil(valid / VALID_SHARE)


def _schema_tag() -> str:
    versions = resources.files("certificates") / "migrations" / "versions"
    names = sorted(p.name for p in versions.iterdir() if p.name.endswith(".py"))
    return hashlib.sha256(("\n".join(names) + DATA_VERSION).encode()).hexdigest()[:10]


def dataset_cache() -> Path:
    return Path(os.environ.get("CONFORMITY_BENCH_CACHE", cache_root() / "bench"))


async def cached_dataset(count: int, seed: int = SEED) -> Path:
    """A loaded certificates database of `count` certificates, kept between runs (keyed by
    count, seed and the schema), since 3 million take minutes to load. Served read-only."""
    folder = dataset_cache()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"certificates-n{count}-seed{seed}-{_schema_tag()}.db"
    if path.exists():
        progress(f"  reusing cached data set {path} ({path.stat().st_size / 2**20:,.0f} MiB)")
        return path
    staging = folder / f".loading-{os.getpid()}-{path.name}"
    for leftover in folder.glob(f".loading-*-{path.name}*"):
        leftover.unlink()
    progress(f"  loading {count:,} certificates once into the cache {folder} (reused by later runs)")
    await load(staging, count, seed=seed)
    with sqlite3.connect(staging) as conn:  # fold the WAL in, so the file is the whole database
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for suffix in ("-wal", "-shm"):
        Path(f"{staging}{suffix}").unlink(missing_ok=True)
    staging.rename(path)
    return path


def warm_page_cache(path: Path) -> float:
    """Read the file once so that every data set is measured with its pages in memory."""
    started = time.monotonic()
    with path.open("rb") as f:
        while f.read(16 * 2**20):
            pass
    return time.monotonic() - started


@dataclass(frozen=True)
class Cert:
    number: str
    holder: str
    body: str


def valid_certificates(path: Path, *, limit: int | None = None, body: str | None = None,
                       distinct_holders: bool = False, seed: int = SEED) -> list[Cert]:
    """Valid certificates of the data set, in a seeded random order."""
    query = "SELECT number, holder_uscc, issuing_body_uscc FROM certificates WHERE status = 'valid'"
    params: tuple = ()
    if body:
        query += " AND issuing_body_uscc = ?"
        params = (body,)
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        rows = conn.execute(query + " ORDER BY number", params).fetchall()
    random.Random(seed).shuffle(rows)
    if distinct_holders:
        seen: set[str] = set()
        rows = [r for r in rows if not (r[1] in seen or seen.add(r[1]))]
    certs = [Cert(*r) for r in rows]
    return certs[:limit] if limit is not None else certs


def copy_database(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (uvicorn's supervisor and its workers)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo += parents.get(current, [])
    return tree


def tree_cpu_seconds(pids: list[int]) -> float:
    """CPU time used so far by these processes together (those still running)."""
    total = 0.0
    for pid in pids:
        try:
            total += cpu_seconds(pid)
        except (OSError, IndexError):
            pass
    return total


class CpuSampler:
    """Samples a process's CPU time every `interval` seconds, so that the CPU spent between two
    moments of a benchmark (e.g. the 5th and 95th percentile of arrivals) can be read off."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, float]] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> CpuSampler:
        self._task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        while True:
            try:
                self.samples.append((time.perf_counter(), cpu_seconds(self.pid)))
            except (OSError, IndexError):
                return  # the process has ended
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        try:
            self.samples.append((time.perf_counter(), cpu_seconds(self.pid)))
        except (OSError, IndexError):
            pass

    def at(self, moment: float) -> float:
        """CPU seconds at `moment` (perf_counter), interpolated between samples."""
        before = [s for s in self.samples if s[0] <= moment]
        after = [s for s in self.samples if s[0] >= moment]
        if not before:
            return self.samples[0][1]
        if not after:
            return self.samples[-1][1]
        (t0, c0), (t1, c1) = before[-1], after[0]
        return c0 if t1 == t0 else c0 + (c1 - c0) * (moment - t0) / (t1 - t0)

    def between(self, start: float, end: float) -> float:
        return self.at(end) - self.at(start)
