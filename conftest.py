"""Fixtures shared by every test tree: one real Kafka broker for the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conformity_devstack import testing


@pytest.fixture(scope="session")
def kafka() -> Iterator[str]:
    """KAFKA_BOOTSTRAP_SERVERS, a container, or the local broker: never a fake, never a skip."""
    try:
        with testing.broker() as bootstrap:
            yield bootstrap
    except Exception as exc:
        # In CI a missing broker fails the run; locally too: there is no fake to fall back to.
        pytest.fail(f"could not start or reach a Kafka broker: {exc}", pytrace=False)
