"""Where a service's time goes: py-spy attached to the running process (`--profile`), with a
summary of the samples by package and by function.

py-spy samples from outside the process, so the service runs exactly as measured
(`--nonblocking`: the process is not paused to read its stacks). Idle threads are left out,
so the shares are of the time the process was busy (the event loop and aiosqlite's thread).
"""

from __future__ import annotations

import collections
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.report import progress

FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^():]*)(?::(?P<line>\d+))?\)$")

# Which part of the stack a frame belongs to: the first rule matching its file wins.
PACKAGES = (
    ("certificates/", "certificates service (domain, service, api)"),
    ("supervision/", "supervision service (domain, service, api)"),
    ("conformity_shared/messaging", "shared: outbox relay, inbox, consumer"),
    ("conformity_shared/", "shared: runtime, envelope, events, auth"),
    ("sqlalchemy/", "SQLAlchemy (ORM core, compiled SQL, results)"),
    ("aiosqlite/", "aiosqlite + sqlite3 (the database work itself)"),
    ("sqlite3/", "aiosqlite + sqlite3 (the database work itself)"),
    ("aiokafka/", "aiokafka (Kafka client)"),
    ("kafka/", "aiokafka (Kafka client)"),
    ("faststream/", "FastStream (subscriber, middlewares)"),
    ("pydantic", "pydantic (validation, JSON)"),
    ("structlog/", "structlog (JSON log lines)"),
    ("logging/", "structlog (JSON log lines)"),
    ("json/", "json"),
    ("uvicorn/", "uvicorn + starlette + FastAPI (HTTP)"),
    ("starlette/", "uvicorn + starlette + FastAPI (HTTP)"),
    ("fastapi/", "uvicorn + starlette + FastAPI (HTTP)"),
    ("httptools", "uvicorn + starlette + FastAPI (HTTP)"),
    ("asyncio/", "asyncio (event loop, tasks, threads hand-off)"),
    ("concurrent/", "asyncio (event loop, tasks, threads hand-off)"),
    ("threading", "asyncio (event loop, tasks, threads hand-off)"),
    ("uuid", "uuid, datetime, other stdlib"),
)


# Leaves where a thread waits rather than works. py-spy counts them as active (its idle
# detection does not see these waits), so the summary sets them apart: aiosqlite's thread
# blocked on its queue, the event loop inside uvloop's C run loop (epoll; uvloop's own I/O
# work is there too and cannot be told apart), thread pools and conditions waiting.
WAITS = (
    ("_connection_worker_thread", "aiosqlite/core.py", "tx.get()"),
    ("Runner.run", "asyncio/runners.py", None),
    ("_worker", "concurrent/futures/thread.py", None),
    ("Condition.wait", "threading.py", None),
)


def _waiting(function: str, file: str, line: str | None, lines_of: dict[str, list[str]]) -> bool:
    for name, where, text in WAITS:
        if function == name and file.endswith(where):
            if text is None:
                return True
            return text in _source_line(file, line, lines_of)
    return False


def _source_line(file: str, line: str | None, lines_of: dict[str, list[str]]) -> str:
    if line is None:
        return ""
    if file not in lines_of:
        lines_of[file] = []
        for root in sys.path:
            candidate = Path(root) / file
            if candidate.is_file():
                lines_of[file] = candidate.read_text(errors="replace").splitlines()
                break
    source = lines_of[file]
    index = int(line) - 1
    return source[index] if 0 <= index < len(source) else ""


def find_py_spy() -> str | None:
    candidates = [os.environ.get("PY_SPY"), str(Path(sys.executable).parent / "py-spy"), shutil.which("py-spy")]
    return next((c for c in candidates if c and Path(c).exists()), None)


class Profile:
    """py-spy recording one process until `stop()`; writes collapsed stacks to `out`."""

    def __init__(self, py_spy: str, pid: int, out: Path, rate: int = 100) -> None:
        self.out = out
        self._log = out.with_suffix(".log").open("wb")
        self.process = subprocess.Popen(
            [py_spy, "record", "--pid", str(pid), "--format", "raw", "--output", str(out), "--rate", str(rate),
             ],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        progress(f"  py-spy attached to pid {pid} -> {out.name}")

    def stop(self) -> dict[str, Any] | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # py-spy writes its file on interrupt
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        if not self.out.exists():
            progress(f"  py-spy wrote nothing; see {self.out.with_suffix('.log')}")
            return None
        return summarize(self.out)


def _package(file: str) -> str:
    for needle, name in PACKAGES:
        if needle in file:
            return name
    return "other (" + file.split("/")[0] + ")"


def _stacks(raw: Path) -> Iterator[tuple[list[tuple[str, str, str]], int]]:
    """(frames as (function, file, line), sample count) per collapsed stack of the file."""
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = [(m["function"], m["file"], m["line"]) for m in map(FRAME.match, stack.split(";")) if m]
        if frames:
            yield frames, int(count_text)


def summarize(raw: Path, top: int = 25) -> dict[str, Any]:
    """Shares of samples by package (of the innermost frame) and by function (self and inclusive)."""
    total = 0
    waiting: collections.Counter[str] = collections.Counter()
    lines_of: dict[str, list[str]] = {}
    counters = {name: collections.Counter[str]() for name in
                ("by_package", "self_time", "self_lines", "inclusive", "package_inclusive")}
    for frames, count in _stacks(raw):
        leaf_function, leaf_file, leaf_line = frames[-1]
        if _waiting(leaf_function, leaf_file, leaf_line, lines_of):
            waiting[f"{leaf_function} ({leaf_file})"] += count
            continue
        total += count
        counters["by_package"][_package(leaf_file)] += count
        counters["self_time"][f"{leaf_function} ({leaf_file})"] += count
        counters["self_lines"][f"{leaf_function} ({leaf_file}:{leaf_line})"] += count
        for name in {f"{fn} ({fl})" for fn, fl, _ in frames}:
            counters["inclusive"][name] += count
        # Inclusive by package: a sample counts for every package on its stack (once each).
        for package in {_package(fl) for _, fl, _ in frames}:
            counters["package_inclusive"][package] += count

    def shares(counter: collections.Counter[str], n: int | None = None) -> list[tuple[str, float]]:
        return [(name, round(100 * c / total, 1)) for name, c in counter.most_common(n)] if total else []

    return {
        "samples": total,
        "waiting_samples_left_out": dict(waiting),
        "self_by_package_percent": shares(counters["by_package"]),
        "inclusive_by_package_percent": shares(counters["package_inclusive"]),
        "self_by_function_percent": shares(counters["self_time"], top),
        "self_by_line_percent": shares(counters["self_lines"], top),
        "inclusive_by_function_percent": shares(counters["inclusive"], top * 2),
    }


def describe(summary: dict[str, Any], top: int = 12) -> str:
    left_out = sum(summary.get("waiting_samples_left_out", {}).values())
    lines = [f"  {summary['samples']} busy samples ({left_out} samples of threads waiting left out)",
             "  self time by package:"]
    lines += [f"    {share:5.1f}%  {name}" for name, share in summary["self_by_package_percent"][:top]]
    lines += ["  hottest functions (self):"]
    lines += [f"    {share:5.1f}%  {name}" for name, share in summary["self_by_function_percent"][:top]]
    lines += ["  hottest lines (self):"]
    lines += [f"    {share:5.1f}%  {name}" for name, share in summary.get("self_by_line_percent", [])[:top // 2]]
    return "\n".join(lines)
