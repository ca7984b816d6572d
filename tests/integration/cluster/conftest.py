"""The cluster tier: two replicas of every service on PostgreSQL, against a three-broker KRaft
cluster (replication factor 3, min.insync.replicas 2), driven over HTTP only, with an outside
observer reading every topic from the beginning.

It runs on its own (`make cluster`, part of `make test` and so of CI), not in the SQLite and
PostgreSQL passes of tests/integration: replicas share one database, which is PostgreSQL's job.
Figures (events checked, faults injected, take-over times) are printed at the end and written
to var/cluster/figures.json.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from conformity_devstack.apps import SERVICES
from conformity_devstack.cluster import REPLICAS, Cluster, Figures, Observer, Replicas
from conformity_devstack.kafka import LocalKafka
from conformity_devstack.postgres import LocalPostgres
from conformity_operators.kafka_provisioning import OPERATORS
from conformity_devstack.stack import Stack, replica

ROOT = Path(__file__).resolve().parents[3]
PARTITIONS = 6

# The settings of a replicated deployment, with short intervals so that jobs run within a test.
CLUSTER_ENV = {
    "CONFORMITY_LOG_JSON": "false",
    "CONFORMITY_OUTBOX_POLL_SECONDS": "0.5",
    "CONFORMITY_KAFKA_REPLICATION_FACTOR": "3",
    "CONFORMITY_KAFKA_MIN_INSYNC_REPLICAS": "2",
    "CONFORMITY_KAFKA_TOPIC_PARTITIONS": str(PARTITIONS),
    "CONFORMITY_DB_POOL_SIZE": "3",
    "CONFORMITY_DB_MAX_OVERFLOW": "3",
    "CONFORMITY_SCHEDULER_INTERVAL_SECONDS": "1",
    "CONFORMITY_CREDIT_CHECK_INTERVAL_SECONDS": "1",
    "CONFORMITY_ALLOW_AS_OF": "true",
}


# --- figures ------------------------------------------------------------------------------------


_FIGURES = Figures()


@pytest.fixture(scope="session")
def figures() -> Iterator[Figures]:
    yield _FIGURES
    out = ROOT / "var" / "cluster"
    out.mkdir(parents=True, exist_ok=True)
    (out / "figures.json").write_text(json.dumps(_FIGURES.tests, indent=2, default=str))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _FIGURES.tests:
        return
    terminalreporter.section("cluster figures (2 replicas per service, 3 brokers, PostgreSQL)")
    for test, values in _FIGURES.tests.items():
        terminalreporter.write_line(f"{test}: " + ", ".join(f"{k}={v}" for k, v in values.items()))


# --- the cluster --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def kafka() -> Iterator[LocalKafka]:
    cluster = LocalKafka(Path(tempfile.mkdtemp(prefix="conformity-cluster-kafka-")), nodes=3)
    try:
        cluster.start()
    except Exception as exc:
        pytest.fail(f"could not start the three-broker Kafka cluster: {exc}", pytrace=False)
    os.environ.update(cluster.service_env())
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[LocalPostgres]:
    try:
        server = LocalPostgres().start()
    except Exception as exc:
        pytest.fail(f"could not start PostgreSQL: {exc}", pytrace=False)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def cluster(kafka: LocalKafka, postgres: LocalPostgres) -> Iterator[Cluster]:
    workdir = Path(tempfile.mkdtemp(prefix="conformity-cluster-"))
    prefix = postgres.create_database().removeprefix("t_")
    for service in SERVICES:
        postgres.create_database(f"t_{prefix}_{service}")
    env = {**CLUSTER_ENV, **kafka.service_env(), "CONFORMITY_DATABASE_URL": f"{postgres.url}/t_{prefix}_{{service}}"}
    stack = Stack(workdir, kafka.bootstrap_servers, env=env)
    processes = tuple(replica(s, n) for s in SERVICES for n in range(1, REPLICAS + 1))
    try:
        stack.start(processes, timeout=180)
    except RuntimeError as exc:
        stack.stop()
        pytest.fail(f"the cluster did not start: {exc}", pytrace=False)
    yield Cluster(kafka, stack, postgres, prefix)
    stack.stop()


@pytest.fixture
def up(cluster: Cluster) -> Cluster:
    cluster.ensure_up()
    return cluster


# --- HTTP, alternating between replicas ------------------------------------------------------------


@pytest.fixture
async def http(up: Cluster) -> AsyncIterator[Replicas]:
    replicas = Replicas(up)
    yield replicas
    await replicas.aclose()


# --- the outside observer ---------------------------------------------------------------------------


@pytest.fixture
async def observer(up: Cluster) -> AsyncIterator[Observer]:
    watching = Observer(up.kafka.bootstrap_servers, up.kafka.access(OPERATORS).client_settings())
    await watching.start()
    yield watching
    await watching.stop()

