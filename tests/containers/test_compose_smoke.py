"""docker-compose.yml as a user runs it: every container healthy, then the spot-check cascade
through the composed stack over HTTP (DESIGN flow 1), then `down -v`.

Images come from the environment as for compose itself (CONFORMITY_IMAGE, CONFORMITY_KAFKA_IMAGE,
CONFORMITY_POSTGRES_IMAGE; `make containers-test` exports those containers/build.sh wrote).
Published ports are chosen free, and the JWT secret is a fresh one, so that the test also shows
that the compose file passes the secret through.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conformity_shared import uscc
from conformity_shared.auth import Role, issue_token
from conformity_devstack.kafka import free_port

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED = ("approval", "certificates", "supervision", "proficiency", "dashboard", "kafka")
HEALTHY_WITHIN = float(os.environ.get("CONFORMITY_COMPOSE_HEALTHY_WITHIN", "240"))

# `up` may build the service image first (from the official Python image, on a machine that
# can pull it), which takes longer than the suite's default per-test limit.
pytestmark = pytest.mark.timeout(900)


def compose_command() -> list[str]:
    """Compose v2 (`docker compose`) where installed, else v1 (`docker-compose`, Debian bookworm's)."""
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.fail("neither `docker compose` nor `docker-compose` is installed (make containers installs it)", pytrace=False)


class Stack:
    def __init__(self) -> None:
        self.project = f"conformity-smoke-{uuid.uuid4().hex[:8]}"
        self.ports = {name: free_port() for name in PUBLISHED}
        self.secret = f"smoke-{uuid.uuid4().hex}"
        self.env = {
            **os.environ,
            "CONFORMITY_JWT_SECRET": self.secret,
            **{f"CONFORMITY_{name.upper()}_PORT": str(port) for name, port in self.ports.items()},
        }
        self.command = [*compose_command(), "-f", str(ROOT / "docker-compose.yml"), "-p", self.project]

    def compose(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*self.command, *args], env=self.env, cwd=ROOT, capture_output=True, text=True,
            stdin=subprocess.DEVNULL, timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"compose {' '.join(args)} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
        return result

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def token(self, role: Role, **claims: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(self.secret, role, **claims)}"}

    def health(self) -> dict[str, str]:
        """Service name -> container health (healthy, starting, unhealthy, or the state if none)."""
        ids = self.compose("ps", "-q").stdout.split()
        if not ids:
            return {}
        inspected = json.loads(subprocess.run(["docker", "inspect", *ids], capture_output=True, text=True, check=True).stdout)
        return {
            c["Config"]["Labels"]["com.docker.compose.service"]: (c["State"].get("Health") or {}).get("Status", c["State"]["Status"])
            for c in inspected
        }

    def wait_healthy(self, timeout: float) -> dict[str, str]:
        expected = set(self.compose("config", "--services").stdout.split())
        deadline = time.monotonic() + timeout
        health: dict[str, str] = {}
        while time.monotonic() < deadline:
            health = self.health()
            if set(health) == expected and all(status == "healthy" for status in health.values()):
                return health
            time.sleep(2)
        logs = self.compose("logs", "--no-color", "--tail", "40", check=False).stdout
        raise AssertionError(f"not all healthy after {timeout:.0f}s: {health}\n{logs[-6000:]}")


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    stack = Stack()
    started = time.monotonic()
    try:
        stack.compose("up", "-d")
        health = stack.wait_healthy(HEALTHY_WITHIN)
        print(f"\n{len(health)} containers healthy {time.monotonic() - started:.0f}s after `up`: {sorted(health)}")
        yield stack
    finally:
        logs = stack.compose("logs", "--no-color", check=False).stdout
        (ROOT / "var" / "containers").mkdir(parents=True, exist_ok=True)
        (ROOT / "var" / "containers" / f"{stack.project}.log").write_text(logs)
        stack.compose("down", "-v", "--remove-orphans", check=False)


def eventually(check: Callable[[], Any], timeout: float = 60.0, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


def test_every_container_reports_healthy(stack: Stack) -> None:
    for service in ("approval", "certificates", "supervision", "proficiency", "dashboard"):
        answer = httpx.get(f"{stack.url(service)}/health", timeout=10)
        assert answer.status_code == 200, f"{service}: {answer.text}"


def test_failed_spot_check_suspends_the_certificate_through_the_composed_stack(stack: Stack) -> None:
    rng = random.Random()
    body, holder, inspector = uscc.make(rng), uscc.make(rng), f"insp-{uuid.uuid4().hex[:8]}"
    agency = stack.token(Role.AGENCY, org=body)
    regulator = stack.token(Role.REGULATOR)
    approval, certificates, supervision = (stack.url(s) for s in ("approval", "certificates", "supervision"))
    with httpx.Client(timeout=30) as http:
        # 1. The body is approved on the spot: the commitment path, a low-risk field.
        granted = http.post(f"{approval}/applications", headers=agency, json={
            "organisation_uscc": body, "organisation_name": "Fujian Certification Co.", "kind": "certification_body",
            "path": "commitment", "requested_fields": ["MS-QMS"],
            "declared": {"staff_per_field": {"MS-QMS": 12}, "registered_capital_rmb": 5_000_000,
                         "premises": "Fuzhou, Gulou district, 12 Wusi Road",
                         "management_system": "ISO/IEC 17021-1 quality manual v3"},
            "commitment_text": "We commit that every condition is met. Signed: Li Wei, legal representative.",
        })
        assert granted.status_code == 201, granted.text
        assert granted.json()["status"] == "granted"

        # 2. It issues a certificate once approval.granted has reached the certificates service.
        def issue() -> str | None:
            answer = http.post(f"{certificates}/certificates", headers=agency, json={
                "holder_uscc": holder, "holder_name": "Beijing Kettle Works", "scheme": "management_system",
                "field": "MS-QMS", "product": "Design and manufacture of electric kettles", "standard": "GB/T 19001-2016",
            })
            assert answer.status_code in (201, 422), answer.text
            return answer.json()["number"] if answer.status_code == 201 else None

        number = eventually(issue)
        assert http.get(f"{certificates}/public/certificates/{number}").json()["status"] == "valid"

        # 3. Supervision learns of the holder from certificate.issued; the regulator registers an
        # inspector and orders a product spot check; the inspector records a failed sample.
        eventually(lambda: http.get(f"{supervision}/targets/{holder}", headers=regulator).status_code == 200)
        partner = f"{inspector}-b"  # an inspection ordered by hand has two inspectors, as a drawn one
        for inspector_id, name in ((inspector, "Zhang San"), (partner, "Li Si")):
            registered = http.post(f"{supervision}/inspectors", headers=regulator, json={
                "id": inspector_id, "name": name, "organisation": uscc.make(rng), "region": "110000"})
            assert registered.status_code == 201, registered.text
        ordered = http.post(f"{supervision}/inspections", headers=regulator, json={
            "target_uscc": holder, "target_kind": "enterprise", "kind": "product_spot_check",
            "inspector_ids": [inspector, partner]})
        assert ordered.status_code == 201, ordered.text
        recorded = http.post(
            f"{supervision}/inspections/{ordered.json()['id']}/result",
            headers=stack.token(Role.INSPECTOR, inspector_id=inspector),
            json={"outcome": "fail", "findings": "sample overheats (GB 4706.19 clause 11)",
                  "samples": [{"certificate_number": number, "passed": False, "finding": "overheating"}]},
        )
        assert recorded.status_code == 200, recorded.text

        # 4. Moments later the public check answers "suspended", with the reason.
        def suspended() -> dict | None:
            public = http.get(f"{certificates}/public/certificates/{number}").json()
            return public if public["status"] == "suspended" else None

        public = eventually(suspended)
        assert public["suspension"]["reason"] == "spot_check_failed"
