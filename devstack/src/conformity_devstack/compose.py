"""Compose projects for the container tests (tests/containers): a compose file brought up under
a fresh project name on free ports with a fresh development signing key and fresh Kafka passwords
(the admin's and every principal's, none of the files' "dev-" defaults), a fresh credential
signing key of the certificates (a "dev-" one, as `make compose-dev-env` makes) and a fresh
session secret of the portal, waited on until every
container is healthy (a one-shot step, `provision` and `migrate`: exited with status 0), its logs
kept under var/containers/, and taken down with its volumes.

Images come from the environment as for compose itself (CONFORMITY_IMAGE, CONFORMITY_KAFKA_IMAGE,
CONFORMITY_POSTGRES_IMAGE, CONFORMITY_HAPROXY_IMAGE; `make containers-test` exports those
containers/build.sh wrote). Also the one cascade both compose files are driven through, and
one step through each of the later services: a certificate's signed credential, a watchlist of
notifications, the portal's pages.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from conformity_devstack.factories import application, certificate_request, inspector_body, new_uscc, spot_check_result
from conformity_devstack.kafka import free_port
from conformity_devstack.dev_keys import SigningKey, access_token, jwks
from conformity_operators.kafka_provisioning import PRINCIPALS
from conformity_shared.auth import Role
from conformity_shared.kafka_access import KafkaAccess


COMPOSE_ISSUER = "https://issuer.compose.invalid"  # named in the tokens; nothing is fetched from it


def compose_command() -> list[str]:
    """Compose v2 (`docker compose`) where installed, else v1 (`docker-compose`, Debian bookworm's)."""
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise RuntimeError("neither `docker compose` nor `docker-compose` is installed (make containers installs it)")


@dataclass(frozen=True)
class Container:
    name: str
    service: str
    status: str  # health (healthy, starting, unhealthy), else the state; "exited 0" for a finished step


@dataclass
class ComposeProject:
    """One compose file (run from its folder, the repository's root) under its own project name.
    `published` names the ports to choose free: "approval" sets CONFORMITY_APPROVAL_PORT,
    "kafka_2" CONFORMITY_KAFKA_2_PORT, and so on."""

    file: Path
    published: Iterable[str]
    prefix: str = "conformity"
    name: str = field(init=False)
    ports: dict[str, int] = field(init=False)
    key: SigningKey = field(init=False)
    credential_key: dict[str, Any] = field(init=False)  # the certificates' private Ed25519 JWK
    portal_session_secret: str = field(init=False)
    kafka_passwords: dict[str, str] = field(init=False)  # by principal, "admin" included
    env: dict[str, str] = field(init=False)
    command: list[str] = field(init=False)
    root: Path = field(init=False)

    def __post_init__(self) -> None:
        self.name = f"{self.prefix}-{uuid.uuid4().hex[:8]}"
        self.ports = {name: free_port() for name in self.published}
        self.key = SigningKey.generate(prefix="dev-compose-")
        self.kafka_passwords = {p: secrets.token_urlsafe(18) for p in ("admin", *PRINCIPALS)}
        from certificates.signing import new_key  # the service's own key maker (python -m certificates.signing)

        self.credential_key = new_key(f"dev-compose-{uuid.uuid4().hex[:8]}")
        self.portal_session_secret = secrets.token_urlsafe(32)
        public_url = {"CONFORMITY_PUBLIC_BASE_URL": self.url("certificates")} if "certificates" in self.ports else {}
        self.env = {
            **os.environ,
            # A development platform trusting this project's own key, and no other.
            "CONFORMITY_ENV": "development",
            "CONFORMITY_OIDC_ISSUER": COMPOSE_ISSUER,
            "CONFORMITY_OIDC_JWKS": json.dumps(jwks([self.key])),
            **{f"CONFORMITY_{name.upper()}_PORT": str(port) for name, port in self.ports.items()},
            "CONFORMITY_KAFKA_ADMIN_PASSWORD": self.kafka_passwords["admin"],
            **{f"CONFORMITY_KAFKA_PASSWORD_{p.upper().replace('-', '_')}": self.kafka_passwords[p] for p in PRINCIPALS},
            "CONFORMITY_CREDENTIAL_SIGNING_KEY": json.dumps(self.credential_key),
            **public_url,
            "CONFORMITY_PORTAL_SESSION_SECRET": self.portal_session_secret,
        }
        self.root = self.file.resolve().parent
        self.command = [*compose_command(), "-f", str(self.file.resolve()), "-p", self.name]

    def compose(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*self.command, *args], env=self.env, cwd=self.root, capture_output=True, text=True,
            stdin=subprocess.DEVNULL, timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"compose {' '.join(args)} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
        return result

    def url(self, published: str) -> str:
        return f"http://127.0.0.1:{self.ports[published]}"

    def kafka(self, principal: str) -> KafkaAccess:
        """How a program on the host signs in to the brokers' HOST listener as `principal`
        ("admin": the brokers' static PLAIN super user; any other: its SCRAM user)."""
        mechanism = "PLAIN" if principal == "admin" else "SCRAM-SHA-512"
        return KafkaAccess("SASL_PLAINTEXT", principal, self.kafka_passwords[principal], mechanism)

    def token(self, role: Role, **claims: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {access_token(self.key, role, issuer=COMPOSE_ISSUER, **claims)}"}

    def portal_session(self, role: Role, **claims: str) -> dict[str, str]:
        """The portal's session cookie for a user signed in with `role`, as its sign-in callback
        sets it (conformity_shared.web_sign_in: the access token, signed with the session secret
        every replica shares); the sign-in itself needs an issuer a compose project has not."""
        from itsdangerous import URLSafeTimedSerializer

        serializer = URLSafeTimedSerializer(self.portal_session_secret, salt="conformity-conformity_portal")
        token = access_token(self.key, role, issuer=COMPOSE_ISSUER, **claims)
        return {"conformity_portal_session": serializer.dumps({"access_token": token})}

    def services(self) -> set[str]:
        return set(self.compose("config", "--services").stdout.split())

    def containers(self) -> list[Container]:
        ids = self.compose("ps", "-q").stdout.split()
        if not ids:
            return []
        inspected = json.loads(subprocess.run(["docker", "inspect", *ids], capture_output=True, text=True, check=True).stdout)
        found = []
        for c in inspected:
            state = c["State"]
            status = (state.get("Health") or {}).get("Status", state["Status"])
            if state["Status"] == "exited":
                status = f"exited {state['ExitCode']}"
            found.append(Container(c["Name"].lstrip("/"), c["Config"]["Labels"]["com.docker.compose.service"], status))
        return found

    def wait_ready(self, timeout: float, one_shot: Iterable[str] = ("provision", "migrate")) -> list[Container]:
        """Every service's containers healthy, and every one-shot step exited 0."""
        steps = set(one_shot)
        expected = self.services()
        deadline = time.monotonic() + timeout
        containers: list[Container] = []
        while time.monotonic() < deadline:
            containers = self.containers()
            if {c.service for c in containers} == expected and all(
                c.status == ("exited 0" if c.service in steps else "healthy") for c in containers
            ):
                return containers
            if any(c.service in steps and c.status.startswith("exited") and c.status != "exited 0" for c in containers):
                break  # a failed step does not recover
            time.sleep(2)
        logs = self.compose("logs", "--no-color", "--tail", "40", check=False).stdout
        states = {c.name: c.status for c in containers}
        raise AssertionError(f"not ready after {timeout:.0f}s: {states}\n{logs[-8000:]}")

    def save_logs(self) -> Path:
        """All containers' logs, to var/containers/<project>.log."""
        folder = self.root / "var" / "containers"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.name}.log"
        path.write_text(self.compose("logs", "--no-color", check=False).stdout)
        return path

    def down(self) -> None:
        self.compose("down", "-v", "--remove-orphans", check=False)


def eventually(check: Callable[[], Any], timeout: float = 60.0, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


def spot_check_cascade(http: httpx.Client, urls: Mapping[str, str], project: ComposeProject) -> dict[str, Any]:
    """DESIGN flow 1 over HTTP: a body approved on the spot issues a certificate; an inspector
    records a failed spot check of it; the public check then answers "suspended". Returns that answer."""
    body, holder = new_uscc(), new_uscc()
    agency = project.token(Role.AGENCY, org=body)
    # 1. The body is approved on the spot: the commitment path, a low-risk field.
    granted = http.post(f"{urls['approval']}/applications", headers=agency, json=application(body))
    assert granted.status_code == 201, granted.text
    assert granted.json()["status"] == "granted"
    number = _issued(http, urls["certificates"], agency, holder)
    _spot_check_failed(http, urls["supervision"], project, holder, number)

    # 4. Moments later the public check answers "suspended", with the reason.
    def suspended() -> dict[str, Any] | None:
        public = http.get(f"{urls['certificates']}/public/certificates/{number}").json()
        return public if public["status"] == "suspended" else None

    public: dict[str, Any] = eventually(suspended)
    assert public["suspension"]["reason"] == "spot_check_failed"
    return public


def _issued(http: httpx.Client, certificates: str, agency: dict[str, str], holder: str) -> str:
    """2. The body issues a certificate once approval.granted has reached the certificates service."""
    def issue() -> str | None:
        answer = http.post(f"{certificates}/certificates", headers=agency, json=certificate_request(holder))
        assert answer.status_code in (201, 422), answer.text
        return answer.json()["number"] if answer.status_code == 201 else None

    number: str = eventually(issue)
    assert http.get(f"{certificates}/public/certificates/{number}").json()["status"] == "valid"
    return number


def _spot_check_failed(http: httpx.Client, supervision: str, project: ComposeProject, holder: str, number: str) -> None:
    """3. Supervision learns of the holder from certificate.issued; the regulator registers two
    inspectors and orders a product spot check; one of them records a failed sample."""
    regulator = project.token(Role.REGULATOR)
    eventually(lambda: http.get(f"{supervision}/targets/{holder}", headers=regulator).status_code == 200)
    inspectors = [f"insp-{uuid.uuid4().hex[:8]}" for _ in range(2)]  # ordered by hand, as a drawn one: two
    for inspector_id in inspectors:
        registered = http.post(f"{supervision}/inspectors", headers=regulator, json=inspector_body(inspector_id))
        assert registered.status_code == 201, registered.text
    ordered = http.post(f"{supervision}/inspections", headers=regulator, json={
        "target_uscc": holder, "target_kind": "enterprise", "kind": "product_spot_check", "inspector_ids": inspectors})
    assert ordered.status_code == 201, ordered.text
    recorded = http.post(
        f"{supervision}/inspections/{ordered.json()['id']}/result",
        headers=project.token(Role.INSPECTOR, inspector_id=inspectors[0]), json=spot_check_result([number]),
    )
    assert recorded.status_code == 200, recorded.text


def signed_credential(http: httpx.Client, certificates: str, project: ComposeProject, number: str) -> dict[str, Any]:
    """A certificate's digital credential (vc+jwt), fetched without a token, verifies with the
    keys the service publishes, and was signed by the key the project passed in
    CONFORMITY_CREDENTIAL_SIGNING_KEY for the public URL of CONFORMITY_PUBLIC_BASE_URL. Its claims."""
    from conformity_shared import credentials

    answer = http.get(f"{certificates}/public/certificates/{number}/credential")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/vc+jwt")
    published = http.get(f"{certificates}/.well-known/jwks.json").json()
    header, claims = credentials.verify(answer.text, credentials.key_set(published, allow_development_keys=True))
    assert header["kid"] == project.credential_key["kid"], header
    assert claims["issuer"] == project.env["CONFORMITY_PUBLIC_BASE_URL"], claims["issuer"]
    return claims


def watched_by_notifications(http: httpx.Client, notifications: str, project: ComposeProject, number: str) -> None:
    """A relying platform watches a certificate: notifications accepts the subscription and, once
    it has consumed certificates.events, knows the number (it is no longer reported unknown)."""
    platform = project.token(Role.PLATFORM, org=new_uscc())

    def known() -> dict[str, Any] | None:
        answer = http.post(f"{notifications}/watchlist", headers=platform, json={"kind": "certificate", "values": [number]})
        assert answer.status_code in (200, 201), answer.text
        return answer.json() if answer.json()["unknown_count"] == 0 else None

    eventually(known)
    listed = http.get(f"{notifications}/watchlist", headers=platform, params={"kind": "certificate"})
    assert listed.status_code == 200, listed.text
    assert number in listed.text


def portal_sign_in_page(http: httpx.Client, portal: str) -> None:
    """The portal's home page for someone not signed in: the sign-in button, pointing at the
    portal's own sign-in route (which leaves for the issuer)."""
    answer = http.get(f"{portal}/")
    assert answer.status_code == 200, answer.text
    assert 'id="sign-in"' in answer.text and 'href="/auth/sign-in' in answer.text


def assert_broker_secured(project: ComposeProject, bootstrap: str) -> None:
    """The brokers as an intruder on the network meets them: no client gets in without signing in,
    and a signed-in service may not write another's stream (SECURITY.md, "The event bus"). That
    the principals may do what they must, the cascade shows."""
    import asyncio

    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaError, TopicAuthorizationFailedError

    from conformity_shared import topics

    async def anonymous_is_refused() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        try:
            await admin.start()
            await admin.list_topics()
        except KafkaError:
            return
        finally:
            await admin.close()
        raise AssertionError(f"{bootstrap} answered a client that did not sign in")

    async def cannot_write_another_service_s_stream() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=10000,
                                    **project.kafka("approval").client_settings())
        await producer.start()
        try:
            try:
                await producer.send_and_wait(topics.CERTIFICATES, b"{}")
            except TopicAuthorizationFailedError:
                pass
            else:
                raise AssertionError("approval's principal wrote to certificates.events")
        finally:
            await producer.stop()

    asyncio.run(anonymous_is_refused())
    asyncio.run(cannot_write_another_service_s_stream())
