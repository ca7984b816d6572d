"""The harness (`bench/`) is run as `python -m bench` from the repository's root, not installed:
its tests import it from there."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
