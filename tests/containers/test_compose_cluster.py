"""docker-compose.cluster.yml as an operator runs it: three Kafka nodes (KRaft, SASL on every
listener), PostgreSQL, the broker and migration steps, two replicas of each service behind
HAProxy (the five services and the portal). Once every container is healthy: the topics, which
`provision` made, have three copies with two in sync; the brokers refuse clients that do not sign
in and a service writing another's stream; through the proxy, both replicas of each service
answer /health and exactly one of them publishes the outbox; one spot-check cascade (DESIGN flow
1) crosses the proxy, and the certificate it suspended has a credential signed with the key both
certificates replicas were given, and notifications accepts a watchlist of it; one portal session
is served by both portal replicas; the proxy stops a client's /public/ requests at its
cluster-wide limit, counted over both replicas; then `down -v`.

Images come from the environment as for compose (see test_compose_smoke.py), plus
CONFORMITY_HAPROXY_IMAGE. Every published port is chosen free.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from conformity_devstack.compose import (
    ComposeProject,
    assert_broker_secured,
    eventually,
    portal_sign_in_page,
    signed_credential,
    spot_check_cascade,
    watched_by_notifications,
)
from conformity_devstack.factories import new_uscc
from conformity_shared import topics
from conformity_shared.auth import Role

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("approval", "certificates", "supervision", "proficiency", "notifications")
REPLICAS = 2
PUBLISHED = (*SERVICES, "portal", "dashboard", "proxy_stats", "kafka", "kafka_2", "kafka_3")
HEALTHY_WITHIN = float(os.environ.get("CONFORMITY_COMPOSE_HEALTHY_WITHIN", "300"))
# The proxy's /public/ limit per client and service in 60 s, well under what the two replicas'
# own limits (600 each) let through together, and above what the cascade's polling spends.
PROXY_PUBLIC_LIMIT = 200

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def cluster() -> Iterator[ComposeProject]:
    cluster = ComposeProject(ROOT / "docker-compose.cluster.yml", published=PUBLISHED, prefix="conformity-cluster")
    cluster.env["CONFORMITY_PROXY_PUBLIC_LIMIT"] = str(PROXY_PUBLIC_LIMIT)
    started = time.monotonic()
    try:
        cluster.compose("up", "-d")
        ready = cluster.wait_ready(HEALTHY_WITHIN)
        print(f"\n{len(ready)} containers ready {time.monotonic() - started:.0f}s after `up`")
        yield cluster
    finally:
        cluster.save_logs()
        stopping = time.monotonic()
        cluster.down()
        print(f"\ndown -v in {time.monotonic() - stopping:.0f}s")


def test_two_healthy_replicas_of_each_service_and_three_kafka_nodes(cluster: ComposeProject) -> None:
    running: dict[str, list[str]] = {}
    for c in cluster.containers():
        running.setdefault(c.service, []).append(c.status)
    for service in (*SERVICES, "portal"):
        assert running[service] == ["healthy"] * REPLICAS, running
    for node in ("kafka-1", "kafka-2", "kafka-3"):
        assert running[node] == ["healthy"], running


def test_topics_have_three_copies_two_of_them_in_sync(cluster: ComposeProject) -> None:
    async def describe() -> tuple[list[dict], dict[str, str]]:
        admin = AIOKafkaAdminClient(bootstrap_servers=f"127.0.0.1:{cluster.ports['kafka']}",
                                    **cluster.kafka("admin").client_settings())
        await admin.start()
        try:
            described = await admin.describe_topics(list(topics.ALL))
            configs = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topics.ALL[0])])
        finally:
            await admin.close()
        entries = configs[0].resources[0][4]
        return described, {entry[0]: entry[1] for entry in entries}

    described, config = asyncio.run(describe())
    for topic in described:
        assert len(topic["partitions"]) == 6, topic["topic"]
        assert {len(p["replicas"]) for p in topic["partitions"]} == {3}, topic["topic"]
    assert config["min.insync.replicas"] == "2"


def test_the_brokers_admit_only_signed_in_principals_within_their_rules(cluster: ComposeProject) -> None:
    for node in ("kafka", "kafka_2", "kafka_3"):
        assert_broker_secured(cluster, f"127.0.0.1:{cluster.ports[node]}")


def backend_servers(cluster: ComposeProject) -> dict[str, dict[str, str]]:
    """The proxy's view: backend -> server slot -> status (UP, DOWN, MAINT ...), from its CSV stats."""
    text = httpx.get(f"{cluster.url('proxy_stats')}/stats;csv", timeout=10).text.lstrip("# ")
    servers: dict[str, dict[str, str]] = {}
    for row in csv.DictReader(io.StringIO(text)):
        if row["svname"] not in ("FRONTEND", "BACKEND"):
            servers.setdefault(row["pxname"], {})[row["svname"]] = row["status"]
    return servers


def test_the_proxy_sends_to_both_replicas_and_one_of_them_publishes(cluster: ComposeProject) -> None:
    def every_replica_up() -> dict[str, dict[str, str]] | None:
        servers = backend_servers(cluster)
        counts = [list(servers.get(service, {}).values()).count("UP") for service in SERVICES]
        return servers if counts == [REPLICAS] * len(SERVICES) else None

    servers = eventually(every_replica_up, timeout=30)
    for service in SERVICES:
        up = {slot for slot, status in servers[service].items() if status == "UP"}

        def answers_of_every_replica() -> dict[str, dict] | None:
            # Round robin: as many requests as replicas reach each once; the header names the slot.
            seen: dict[str, dict] = {}
            for _ in range(4 * REPLICAS):
                answer = httpx.get(f"{cluster.url(service)}/health", timeout=10)
                assert answer.status_code == 200, f"{service}: {answer.text}"
                seen[answer.headers["X-Served-By"]] = answer.json()
            publishers = [slot for slot, health in seen.items() if health["outbox_publisher"] == "active"]
            return seen if set(seen) == up and len(publishers) == 1 else None

        seen = eventually(answers_of_every_replica, timeout=30)
        assert sorted(h["outbox_publisher"] for h in seen.values()) == ["active", *["standby"] * (REPLICAS - 1)], seen


@pytest.fixture(scope="module")
def suspended(cluster: ComposeProject) -> dict[str, Any]:
    """The cascade through the proxy, once for the module: the suspended certificate's public answer."""
    with httpx.Client(timeout=30) as http:
        return spot_check_cascade(http, {s: cluster.url(s) for s in SERVICES}, cluster)


def test_failed_spot_check_suspends_the_certificate_through_the_proxy(suspended: dict[str, Any]) -> None:
    assert suspended["status"] == "suspended"


def test_credentials_and_watchlists_through_the_proxy(cluster: ComposeProject, suspended: dict[str, Any]) -> None:
    # Both certificates replicas sign with the one configured key: every answer verifies with it.
    with httpx.Client(timeout=30) as http:
        for _ in range(REPLICAS):
            signed_credential(http, cluster.url("certificates"), cluster, suspended["number"])
        watched_by_notifications(http, cluster.url("notifications"), cluster, suspended["number"])


def test_a_portal_session_is_served_by_either_replica(cluster: ComposeProject) -> None:
    # The portal keeps no state of its own: a session (a cookie signed with the secret its
    # replicas share) opened on one is good on the other, with no stickiness in the proxy.
    eventually(lambda: list(backend_servers(cluster).get("portal", {}).values()).count("UP") == REPLICAS, timeout=30)
    served_by: set[str] = set()
    with httpx.Client(timeout=30) as http:
        portal_sign_in_page(http, cluster.url("portal"))
        http.cookies.update(cluster.portal_session(Role.AGENCY, org=new_uscc()))
        for _ in range(2 * REPLICAS):
            answer = http.get(f"{cluster.url('portal')}/agency")
            assert answer.status_code == 200, answer.text  # not sent to sign in again: the session holds
            assert 'id="sign-in"' not in answer.text
            served_by.add(answer.headers["X-Served-By"])
    assert len(served_by) == REPLICAS, served_by


def test_the_proxy_limits_a_client_s_public_requests_across_the_replicas(cluster: ComposeProject) -> None:
    # Runs last: the budget it spends is the same client's (the host) for the next minute.
    url = f"{cluster.url('certificates')}/public/certificates/no-such-certificate"
    served_by: list[str] = []
    with httpx.Client(timeout=10) as http:
        for _ in range(PROXY_PUBLIC_LIMIT + 50):
            answer = http.get(url)
            if answer.status_code == 429:
                break
            assert answer.status_code in (404, 422), answer.text  # no such certificate, answered by a replica
            served_by.append(answer.headers["X-Served-By"])
        else:
            raise AssertionError(f"{PROXY_PUBLIC_LIMIT + 50} requests in a row, none refused")
    # Refused by the proxy (its rule, not a replica's), once the client had spent the cluster's
    # budget, counted over both replicas: each alone let through far less than its own limit.
    assert answer.headers["Retry-After"] == "60"
    assert answer.json()["rule"] == "public_requests_cluster"
    assert answer.json()["limit"] == PROXY_PUBLIC_LIMIT
    assert "X-Served-By" not in answer.headers
    assert len(served_by) <= PROXY_PUBLIC_LIMIT
    assert len(set(served_by)) == REPLICAS, set(served_by)
