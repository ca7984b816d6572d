"""docker-compose.yml as a user runs it: the broker step (`provision`) and the migration step exit
0, every container is healthy (the five services, the dashboard and the portal), the broker
refuses clients that do not sign in and a service writing another's stream, then the spot-check
cascade through the composed stack over HTTP (DESIGN flow 1); the certificate it suspended has a
digital credential signed with the key compose passed in, notifications accepts a watchlist of
it, the portal renders its sign-in page; then `down -v`.

Images come from the environment as for compose itself (CONFORMITY_IMAGE, CONFORMITY_KAFKA_IMAGE,
CONFORMITY_POSTGRES_IMAGE; `make containers-test` exports those containers/build.sh wrote).
Published ports are chosen free, the services trust a fresh development key passed inline and
every Kafka password, the credential signing key and the portal's session secret are fresh, so
that the test also shows that the compose file passes the identity settings and the secrets through.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any
from pathlib import Path

import httpx
import pytest

from conformity_devstack.compose import (
    ComposeProject,
    assert_broker_secured,
    portal_sign_in_page,
    signed_credential,
    spot_check_cascade,
    watched_by_notifications,
)

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("approval", "certificates", "supervision", "proficiency", "notifications", "dashboard", "portal")
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
    migrated = stack.compose("logs", "--no-color", "migrate").stdout
    assert "proficiency: schema at" in migrated and "notifications: schema at" in migrated
    assert "access rules" in stack.compose("logs", "--no-color", "provision").stdout


def test_the_broker_admits_only_signed_in_principals_within_their_rules(stack: ComposeProject) -> None:
    assert_broker_secured(stack, f"127.0.0.1:{stack.ports['kafka']}")


@pytest.fixture(scope="module")
def suspended(stack: ComposeProject) -> dict[str, Any]:
    """The cascade, once for the module: the public answer of the certificate it suspended."""
    with httpx.Client(timeout=30) as http:
        return spot_check_cascade(http, {s: stack.url(s) for s in SERVICES}, stack)


def test_failed_spot_check_suspends_the_certificate_through_the_composed_stack(suspended: dict[str, Any]) -> None:
    assert suspended["status"] == "suspended"


def test_the_certificate_has_a_credential_signed_with_the_configured_key(stack: ComposeProject,
                                                                         suspended: dict[str, Any]) -> None:
    with httpx.Client(timeout=30) as http:
        claims = signed_credential(http, stack.url("certificates"), stack, suspended["number"])
    assert claims["credentialSubject"]["certificate"]["number"] == suspended["number"]


def test_notifications_accepts_a_watchlist_of_the_certificate(stack: ComposeProject, suspended: dict[str, Any]) -> None:
    with httpx.Client(timeout=30) as http:
        watched_by_notifications(http, stack.url("notifications"), stack, suspended["number"])


def test_the_portal_renders_its_sign_in_page(stack: ComposeProject) -> None:
    with httpx.Client(timeout=30) as http:
        portal_sign_in_page(http, stack.url("portal"))
