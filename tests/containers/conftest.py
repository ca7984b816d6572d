"""Tests of the containers themselves: they need a Docker engine and the images.

`make containers-test` builds the images (containers/build.sh) and runs these with
CONFORMITY_CONTAINER_TESTS=1; `make test` does not collect them, so that it never depends on
Docker.
"""

from __future__ import annotations

import os

collect_ignore_glob = [] if os.environ.get("CONFORMITY_CONTAINER_TESTS") == "1" else ["test_*.py"]
