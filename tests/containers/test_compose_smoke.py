"""docker-compose.yml as a user runs it: the broker step (`provision`) and the migration step exit
0, every container is healthy, the broker refuses clients that do not sign in and a service
writing another's stream, then the spot-check cascade through the composed stack over HTTP
(DESIGN flow 1), then `down -v`.

Images come from the environment as for compose itself (CONFORMITY_IMAGE, CONFORMITY_KAFKA_IMAGE,
CONFORMITY_POSTGRES_IMAGE; `make containers-test` exports those containers/build.sh wrote).
Published ports are chosen free, the services trust a fresh development key passed inline and
every Kafka password is fresh, so that the test also shows that the compose file passes the
identity settings and the passwords through.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conformity_devstack.compose import ComposeProject, assert_broker_secured, spot_check_cascade

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("approval", "certificates", "supervision", "proficiency", "dashboard")
HEALTHY_WITHIN = float(os.environ.get("CONFORMITY_COMPOSE_HEALTHY_WITHIN", "240"))

# `up` may build the service image first (from the official Python image, on a machine that
# can pull it), which takes longer than the suite's default per-test limit.
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def stack() -> Iterator[ComposeProject]:
    stack = ComposeProject(ROOT / "docker-compose.yml", published=(*SERVICES, "kafka"), prefix="conformity-smoke")
    started = time.monotonic()
    try:
        stack.compose("up", "-d")
        ready = stack.wait_ready(HEALTHY_WITHIN)
        print(f"\n{len(ready)} containers ready {time.monotonic() - started:.0f}s after `up`: "
              f"{sorted(f'{c.service} ({c.status})' for c in ready)}")
        yield stack
    finally:
        stack.save_logs()
        stack.down()


def test_every_container_reports_healthy(stack: ComposeProject) -> None:
    for service in SERVICES:
        answer = httpx.get(f"{stack.url(service)}/health", timeout=10)
        assert answer.status_code == 200, f"{service}: {answer.text}"


def test_the_broker_and_migration_steps_ran_once_before_the_services(stack: ComposeProject) -> None:
    for step in ("provision", "migrate"):
        assert [c.status for c in stack.containers() if c.service == step] == ["exited 0"], step
    assert "proficiency: schema at" in stack.compose("logs", "--no-color", "migrate").stdout
    assert "access rules" in stack.compose("logs", "--no-color", "provision").stdout


def test_the_broker_admits_only_signed_in_principals_within_their_rules(stack: ComposeProject) -> None:
    assert_broker_secured(stack, f"127.0.0.1:{stack.ports['kafka']}")


def test_failed_spot_check_suspends_the_certificate_through_the_composed_stack(stack: ComposeProject) -> None:
    with httpx.Client(timeout=30) as http:
        spot_check_cascade(http, {s: stack.url(s) for s in SERVICES}, stack)
