"""`make audit`: the locked dependencies checked for known vulnerabilities.

The Makefile exports the lock as pinned requirements (`uv export`) and gives them to pip-audit
(pinned there), which asks PyPI's vulnerability database about each pinned version; this module
reads pip-audit's JSON report. The run fails on a vulnerability that
has a fixed version (upgrade the lock: `uv lock --upgrade-package NAME`); one without a fix yet is
reported and does not fail the run, since nothing in the lock could be changed to remove it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

@dataclass(frozen=True)
class Finding:
    package: str
    version: str
    vulnerability: str
    fixed_in: tuple[str, ...]

    def __str__(self) -> str:
        fix = f"fixed in {', '.join(self.fixed_in)}" if self.fixed_in else "no fixed version yet"
        return f"{self.package} {self.version}: {self.vulnerability} ({fix})"


def findings(report: Mapping[str, Any]) -> list[Finding]:
    """Every vulnerability of pip-audit's JSON report, one per package and advisory."""
    return [
        Finding(dependency["name"], dependency.get("version", "?"), vuln["id"], tuple(vuln.get("fix_versions") or ()))
        for dependency in report.get("dependencies", [])
        for vuln in dependency.get("vulns", [])
    ]


def failing(found: Iterable[Finding]) -> list[Finding]:
    """Those the lock could be upgraded past: the ones that fail the run."""
    return [finding for finding in found if finding.fixed_in]


def evaluate(requirements: Path, report: Path) -> int:
    """Print every finding; 1 if one has a fix available, 2 if pip-audit gave no report."""
    if not report.exists():
        print(f"pip-audit gave no report ({report}): see its output above", file=sys.stderr)
        return 2
    found = findings(json.loads(report.read_text()))
    packages = sum(1 for line in requirements.read_text().splitlines() if "==" in line)
    for finding in found:
        print(("FAIL " if finding.fixed_in else "note ") + str(finding))
    bad = failing(found)
    print(f"audited {packages} locked packages: {len(found)} known vulnerabilities, {len(bad)} with a fix available")
    return 1 if bad else 0


def main() -> int:
    requirements, report = (Path(arg) for arg in sys.argv[1:3])
    return evaluate(requirements, report)


if __name__ == "__main__":
    raise SystemExit(main())
