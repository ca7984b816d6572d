"""Integration fixtures: fresh databases per test (the session's Kafka broker is in the root conftest)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformity_devstack.apps import SERVICES
from conformity_devstack.postgres import LocalPostgres
from conformity_devstack.testing import ContainerPostgres


@pytest.fixture(scope="session")
def postgres() -> Iterator[LocalPostgres | ContainerPostgres | None]:
    """A real PostgreSQL server, or None (SQLite), chosen by CONFORMITY_TEST_DATABASE:

    `postgresql` starts one from Debian's packages on this machine; `postgres-container` runs
    one in a container through testcontainers (image: CONFORMITY_POSTGRES_IMAGE); unset or
    `sqlite`, each service gets an SQLite file.
    """
    choice = os.environ.get("CONFORMITY_TEST_DATABASE", "sqlite")
    if choice == "sqlite":
        yield None
        return
    if choice not in ("postgresql", "postgres-container"):
        pytest.fail(f"CONFORMITY_TEST_DATABASE={choice!r}: expected sqlite, postgresql or postgres-container", pytrace=False)
    try:
        server = (LocalPostgres() if choice == "postgresql" else ContainerPostgres()).start()
    except Exception as exc:
        pytest.fail(f"could not start PostgreSQL ({choice}): {exc}", pytrace=False)
    yield server
    server.stop()



@pytest.fixture
def service_env(kafka: str, postgres: LocalPostgres | ContainerPostgres | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
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
