"""Figures, their baselines and ratios; the printed table, and the JSON and Markdown results."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import math
import os
import platform
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100) by linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values_seconds: Sequence[float]) -> dict[str, float]:
    """Latency summary in milliseconds."""
    ms = [v * 1000 for v in values_seconds]
    return {
        "n": len(ms),
        "p50_ms": percentile(ms, 50),
        "p95_ms": percentile(ms, 95),
        "p99_ms": percentile(ms, 99),
        "max_ms": max(ms) if ms else math.nan,
        "mean_ms": sum(ms) / len(ms) if ms else math.nan,
    }


@dataclass
class Figure:
    """One measured figure and its raw baseline, measured in the same run."""

    group: str
    name: str
    unit: str
    value: float
    baseline: float | None
    baseline_what: str
    better: str  # "lower" or "higher"
    target: str = ""  # the aim (issue 9), as text
    target_met: bool | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """platform / baseline: above 1 is slower for times, below 1 is slower for rates."""
        if self.baseline in (None, 0) or self.value is None or math.isnan(self.value):
            return None
        return self.value / self.baseline

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


@dataclass
class Section:
    """What one benchmark returns: its figures and the details behind them (for the JSON)."""

    name: str
    figures: list[Figure] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    load_before: tuple[float, float, float] | None = None
    load_after: tuple[float, float, float] | None = None
    error: str | None = None


def _number(value: float | None, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if unit in ("ms", "s"):
        if value < 1:
            return f"{value:.3f} {unit}"
        return f"{value:,.1f} {unit}" if value < 100 else f"{value:,.0f} {unit}"
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:,.0f} {unit}"


def _ratio(figure: Figure) -> str:
    r = figure.ratio
    if r is None:
        return "-"
    if r >= 100:
        return f"{r:,.0f}"
    return f"{r:.3f}" if r < 0.1 else f"{r:.2f}"


def _verdict(figure: Figure) -> str:
    if not figure.target:
        return ""
    mark = {True: "met", False: "MISSED", None: "n/a"}[figure.target_met]
    return f"{figure.target} ({mark})"


def rows(sections: Sequence[Section]) -> list[list[str]]:
    table = [["figure", "platform", "raw baseline", "ratio", "target"]]
    for section in sections:
        if section.error:
            table.append([f"{section.name}: FAILED", section.error[:60], "", "", ""])
        for f in section.figures:
            table.append([f"{f.group}: {f.name}", _number(f.value, f.unit), _number(f.baseline, f.unit),
                          _ratio(f), _verdict(f)])
    return table


def text_table(sections: Sequence[Section]) -> str:
    table = rows(sections)
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    lines = []
    for k, r in enumerate(table):
        lines.append("  ".join(c.ljust(w) if i == 0 or i == 4 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(sections: Sequence[Section]) -> str:
    table = rows(sections)
    out = ["| " + " | ".join(table[0]) + " |", "|---|---:|---:|---:|---|"]
    out += ["| " + " | ".join(r) + " |" for r in table[1:]]
    return "\n".join(out)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _java_version() -> str:
    try:
        out = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=20, check=False)
        return (out.stderr or out.stdout).splitlines()[0]
    except Exception:  # noqa: BLE001 - a description, never a failure
        return "unknown"


def machine() -> dict[str, Any]:
    from conformity_devstack.kafka import kafka_version

    versions = {}
    for package in ("aiokafka", "faststream", "fastapi", "uvicorn", "sqlalchemy", "aiosqlite", "pydantic", "httpx"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "absent"
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory": _memory(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "kafka": kafka_version(),
        "java": _java_version(),
        "sqlite": sqlite3.sqlite_version,
        "libraries": versions,
    }


def write_results(directory: Path, mode: str, started: dt.datetime, sections: Sequence[Section],
                  meta: dict[str, Any]) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    document = {
        "mode": mode,
        "started_at": started.isoformat(),
        **meta,
        "figures": [f.as_dict() for s in sections for f in s.figures],
        "sections": [
            {"name": s.name, "seconds": s.seconds, "load_before": s.load_before, "load_after": s.load_after,
             "error": s.error, "details": s.details}
            for s in sections
        ],
    }
    json_path = directory / f"{stamp}-{mode}.json"
    json_path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    (directory / f"latest-{mode}.json").write_text(json_path.read_text())
    md_path = directory / f"{stamp}-{mode}.md"
    md_path.write_text(markdown_table(sections) + "\n")
    return json_path, md_path


_T0 = time.monotonic()


def progress(message: str) -> None:
    """A line on stderr while the run goes on (the table is the only thing on stdout)."""
    sys.stderr.write(f"[{time.monotonic() - _T0:7.1f}s] {message}\n")
    sys.stderr.flush()
