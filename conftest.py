"""Fixtures shared by every test tree: one real Kafka broker for the whole session, and the
tests' issuer, whose keys every app under test trusts."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest
from hypothesis import settings

from conformity_devstack import testing

# Property tests assert behaviour, never speed: Hypothesis's per-example deadline is a timing
# assertion that fails on a loaded machine (speed is measured in bench/).
settings.register_profile("platform", deadline=None)
settings.load_profile("platform")


def pytest_configure(config: pytest.Config) -> None:
    # Every app the tests build from the environment, in this process or as a process of the
    # stack, is a development app that trusts the tests' issuer (testing.token signs with it).
    os.environ.update(testing.identity_env())
    # The development issuer's key, for the tools that sign with it, made for this session only.
    os.environ["CONFORMITY_DEV_ISSUER_KEYS"] = tempfile.mkdtemp(prefix="conformity-dev-issuer-")


@pytest.fixture(scope="session")
def kafka() -> Iterator[str]:
    """KAFKA_BOOTSTRAP_SERVERS, a container, or the local broker: never a fake, never a skip."""
    try:
        with testing.broker() as bootstrap:
            yield bootstrap
    except Exception as exc:
        # In CI a missing broker fails the run; locally too: there is no fake to fall back to.
        pytest.fail(f"could not start or reach a Kafka broker: {exc}", pytrace=False)
