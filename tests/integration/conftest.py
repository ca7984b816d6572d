"""Integration fixtures: a real Kafka broker for the session, fresh databases per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformity_shared import testing
from conformity_shared.local_postgres import LocalPostgres


@pytest.fixture(scope="session")
def kafka() -> Iterator[str]:
    try:
        with testing.broker() as bootstrap:
            yield bootstrap
    except Exception as exc:
        # In CI a missing broker fails the run; locally too: there is no fake to fall back to.
        pytest.fail(f"could not start or reach a Kafka broker: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def postgres() -> Iterator[LocalPostgres | None]:
    """A real PostgreSQL server when CONFORMITY_TEST_DATABASE=postgresql, else None (SQLite)."""
    if os.environ.get("CONFORMITY_TEST_DATABASE", "sqlite") != "postgresql":
        yield None
        return
    try:
        server = LocalPostgres().start()
    except Exception as exc:
        pytest.fail(f"could not start PostgreSQL: {exc}", pytrace=False)
    yield server
    server.stop()


SERVICES = ("approval", "certificates", "supervision", "proficiency")


@pytest.fixture
def service_env(kafka: str, postgres: LocalPostgres | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings for services started in this test: the session broker, fresh databases."""
    monkeypatch.setenv("CONFORMITY_KAFKA_BOOTSTRAP_SERVERS", kafka)
    monkeypatch.setenv("CONFORMITY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CONFORMITY_OUTBOX_POLL_SECONDS", "0.5")
    monkeypatch.setenv("CONFORMITY_LOG_JSON", "false")
    if postgres is not None:
        prefix = postgres.create_database().removeprefix("t_")
        for service in SERVICES:
            postgres.create_database(f"t_{prefix}_{service}")
        monkeypatch.setenv("CONFORMITY_DATABASE_URL", f"{postgres.url}/t_{prefix}_{{service}}")
    return tmp_path
