"""Integration fixtures: a real Kafka broker for the session, fresh databases per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformity_shared import testing


@pytest.fixture(scope="session")
def kafka() -> Iterator[str]:
    try:
        with testing.broker() as bootstrap:
            yield bootstrap
    except Exception as exc:
        # In CI a missing broker fails the run; locally too: there is no fake to fall back to.
        pytest.fail(f"could not start or reach a Kafka broker: {exc}", pytrace=False)


@pytest.fixture
def service_env(kafka: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings for services started in this test: the session broker, databases under tmp."""
    monkeypatch.setenv("CONFORMITY_KAFKA_BOOTSTRAP_SERVERS", kafka)
    monkeypatch.setenv("CONFORMITY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CONFORMITY_OUTBOX_POLL_SECONDS", "0.5")
    monkeypatch.setenv("CONFORMITY_LOG_JSON", "false")
    if os.environ.get("CONFORMITY_TEST_DATABASE") == "postgresql":
        pytest.fail("PostgreSQL runs are added with the reliability work")
    return tmp_path
