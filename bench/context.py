"""What every benchmark is given: the sizes, the broker, where to work, whether to profile."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.sizes import Sizes


@dataclass
class Context:
    sizes: Sizes
    bootstrap: str
    run_dir: Path  # scratch: databases, service logs, broker data of this run
    results_dir: Path
    py_spy: str | None = None  # path of py-spy when --profile was asked

    def workdir(self, name: str) -> Path:
        path = self.run_dir / name
        path.mkdir(parents=True, exist_ok=True)
        return path
