"""Tests of the Helm chart's rendered manifests: they need the helm binary.

`make helm-check` builds helm (once, cached under ~/.cache/conformity/) and runs these with
CONFORMITY_HELM set to it; `make test` does not collect them, so that it never depends on Go.
"""

from __future__ import annotations

import os

collect_ignore_glob = [] if os.environ.get("CONFORMITY_HELM") else ["test_*.py"]
