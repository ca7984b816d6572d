"""The soak's platform and its steady, mixed load (`bench/soak.py` samples and reports).

The whole platform as `make run` starts it, on the project's secured broker (each service its
own SASL principal, ACLs from the topic contract): approval, certificates, supervision,
proficiency and notifications as uvicorn processes, each on its own SQLite database, plus the
certificates service's public reader workers. Everything is driven through the services'
HTTP APIs, as agencies, inspectors, labs, the regulator and the public would:

- issuance: a certification body approved through approval's API (commitment path) issues
  certificates (`POST /certificates`) once approval.granted has reached certificates;
- failed product spot checks: the regulator orders an inspection of a holder and an assigned
  inspector records a failed sample naming one of its certificates; the cascade runs through
  the events: supervision -> certificates (suspension) -> notifications and supervision;
- proficiency: a round opened for a set of labs, each lab submitting its result with its own
  token, the round closed after its deadline (scoring, outcomes, credit and approval events);
- public verification, one number and batches of 1,000, on the reader workers;
- a notifications subscriber watching a share of the spot-checked certificates, with a local
  webhook receiver (`conformity_operators.webhook_receiver.Receiver`), so deliveries happen.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import random
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from conformity_devstack.apps import SERVICES
from conformity_devstack.factories import application, certificate_request, inspector_body, new_uscc, proficiency_round
from conformity_devstack.kafka import LocalKafka, free_port
from conformity_devstack.testing import token
from conformity_operators.webhook_receiver import Receiver
from conformity_shared import topics
from conformity_shared.auth import Role

from bench import verification
from bench.http_client import Connection
from bench.kafka_tools import create_topics
from bench.report import progress
from bench.services import Cert, Services, load, valid_certificates

REGULATOR = token(Role.REGULATOR)
WATCHED_SHARE = 4  # one spot-checked certificate in 4 is on the subscriber's watchlist
LABS_PER_ROUND = 8
ROUND_DEADLINE_SECONDS = 10.0


def setting(name: str, default: float) -> float:
    return float(os.environ.get(f"CONFORMITY_SOAK_{name}", default))


@dataclass
class Counts:
    """Requests answered, by what and status, and webhooks received (the receiver's list is
    emptied as it is counted, so that the harness itself does not grow with the deliveries)."""

    requests: dict[str, int] = field(default_factory=dict)

    def add(self, what: str, status: int | str) -> None:
        key = f"{what} {status}"
        self.requests[key] = self.requests.get(key, 0) + 1


@dataclass
class Platform:
    services: Services
    reader_url: str
    certs: list[Cert]
    receiver: Receiver
    processes: dict[str, int]  # name -> root pid (its children are sampled too)
    body: dict[str, str] = field(default_factory=dict)  # the issuing body's token header
    inspectors: list[str] = field(default_factory=list)


PLATFORM_ENV = {"CONFORMITY_LOG_JSON": "false", "CONFORMITY_OUTBOX_POLL_SECONDS": "0.5",
                "CONFORMITY_SCHEDULER_INTERVAL_SECONDS": "60"}


async def start_platform(work: Path, broker: LocalKafka, minutes: float) -> Platform:
    """Load the certificates the spot checks and verifications name, start every service and
    the public readers, then set up the world (body, inspectors, subscriber) over HTTP."""
    needed = int(minutes * 60 * setting("SPOT_CHECKS_PER_SECOND", 5) * 1.2) + 2000
    await load(work / "certificates.db", int(needed / 0.9) + 1000)
    certs = valid_certificates(work / "certificates.db", limit=needed)
    await create_topics(broker.bootstrap_servers, [*topics.ALL, *(topics.dead_letters(s) for s in SERVICES)])
    services = Services(work, broker.bootstrap_servers, env=PLATFORM_ENV)
    services.stack.service_env["certificates"] = {
        k: v for k, v in verification.service_env("").items() if k.startswith("CONFORMITY_PUBLIC_")}
    started = time.monotonic()
    await asyncio.to_thread(services.stack.start, SERVICES, 300.0)  # side by side, as `make run`
    progress(f"  {', '.join(SERVICES)} up in {time.monotonic() - started:.0f}s")
    url = await services.start_public_reader("certificates", verification.READER, 2)
    processes = {s: services.pid(s) for s in SERVICES}
    processes.update({"certificates-public": services.reader_pid("certificates"),
                      "kafka broker": broker.nodes[0].process.pid, "harness": os.getpid()})
    receiver = await Receiver(free_port()).start()
    platform = Platform(services, url, certs, receiver, processes)
    await set_up_world(platform)
    return platform


async def set_up_world(platform: Platform) -> None:
    """An approved certification body, two inspectors, a subscriber with an endpoint."""
    services = platform.services
    async with Connection(services.url("approval")) as approval:
        org = new_uscc()
        status, answer = await approval.request("POST", "/applications", application(org),
                                                token(Role.AGENCY, org=org))
        if status != 201:
            raise RuntimeError(f"the body's application was not granted: {status} {answer[:300]!r}")
    platform.body = token(Role.AGENCY, org=org)
    async with Connection(services.url("supervision")) as supervision:
        for _ in range(2):  # at least two per inspection, as a draw assigns
            inspector = f"insp-soak-{uuid.uuid4().hex[:8]}"
            status, answer = await supervision.request("POST", "/inspectors", inspector_body(inspector), REGULATOR)
            if status != 201:
                raise RuntimeError(f"inspector not registered: {status} {answer[:300]!r}")
            platform.inspectors.append(inspector)
    await subscribe(platform)
    progress(f"  body {org} approved; inspectors {platform.inspectors}; subscriber at {platform.receiver.url}")


async def subscribe(platform: Platform) -> None:
    """A subscriber (a platform user) with one endpoint, the local receiver, watching one
    spot-checked certificate in WATCHED_SHARE."""
    subscriber = token(Role.PLATFORM, org=new_uscc())
    watched = [c.number for c in platform.certs[::WATCHED_SHARE]]
    async with Connection(platform.services.url("notifications")) as notes:
        status, answer = await notes.request("POST", "/endpoints", {"url": platform.receiver.url}, subscriber)
        if status != 201:
            raise RuntimeError(f"endpoint not registered: {status} {answer[:300]!r}")
        platform.receiver.secrets.append(json.loads(answer)["secret"])
        for start in range(0, len(watched), 1000):
            status, answer = await notes.request("POST", "/watchlist", {
                "kind": "certificate", "values": watched[start:start + 1000]}, subscriber)
            if status != 200:
                raise RuntimeError(f"watchlist refused: {status} {answer[:300]!r}")


async def paced(rate: float, step, counts: Counts, what: str) -> None:  # noqa: ANN001 - async, no argument
    """Call `step` `rate` times a second, for ever (no catching up after a slow call); a
    failure is counted under `what` and the load goes on."""
    while True:
        started = time.monotonic()
        try:
            await step()
        except (httpx.HTTPError, OSError, RuntimeError) as exc:
            counts.add(what, f"error {type(exc).__name__}")
        await asyncio.sleep(max(0.0, 1 / rate - (time.monotonic() - started)))


def client(url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, timeout=60)


async def verify_steadily(url: str, numbers: list[str], per_second: float, counts: Counts) -> None:
    """One-number verifications at a steady rate on 4 connections, and a batch of 1,000 every second."""
    async with Connection(url) as batch_connection:
        connections = [await Connection(url).__aenter__() for _ in range(4)]
        try:
            async def single(connection: Connection) -> None:
                status, _ = await connection.request("GET", f"/public/certificates/{random.choice(numbers)}")
                counts.add("verify one", status)

            async def batch() -> None:
                status, _ = await batch_connection.request("POST", "/public/certificates/verify", {
                    "numbers": random.sample(numbers, min(1000, len(numbers)))})
                counts.add("verify 1,000", status)

            await asyncio.gather(*(paced(per_second / 4, lambda c=c: single(c), counts, "verify one")
                                   for c in connections), paced(1.0, batch, counts, "verify 1,000"))
        finally:
            for connection in connections:
                await connection.__aexit__()


async def spot_checks_steadily(platform: Platform, per_second: float, counts: Counts) -> None:
    """The regulator orders a product spot check of a holder; an assigned inspector records a
    failed sample naming one of its certificates (never the same certificate twice)."""
    certs = iter(platform.certs)
    inspector = token(Role.INSPECTOR, inspector_id=platform.inspectors[0])
    async with client(platform.services.url("supervision")) as supervision:
        async def spot_check() -> None:
            cert = next(certs)
            ordered = await supervision.post("/inspections", headers=REGULATOR, json={
                "target_uscc": cert.holder, "target_kind": "enterprise", "kind": "product_spot_check",
                "inspector_ids": platform.inspectors})
            counts.add("order inspection", ordered.status_code)
            if ordered.status_code != 201:
                return
            recorded = await supervision.post(f"/inspections/{ordered.json()['id']}/result", json={
                "findings": "samples overheat in the temperature-rise test",
                "samples": [{"certificate_number": cert.number, "passed": False, "finding": "overheating"}]},
                headers={**inspector, "X-Correlation-ID": str(uuid.uuid4())})
            counts.add("record failed spot check", recorded.status_code)

        await paced(per_second, spot_check, counts, "spot check")


async def issue_steadily(platform: Platform, per_second: float, counts: Counts) -> None:
    """The approved body issues certificates to new holders (422 until approval.granted has
    reached the certificates service, then 201)."""
    async with client(platform.services.url("certificates")) as certificates:
        async def issue() -> None:
            answer = await certificates.post("/certificates", json=certificate_request(new_uscc()),
                                             headers=platform.body)
            counts.add("issue", answer.status_code)

        await paced(per_second, issue, counts, "issue")


async def rounds_steadily(platform: Platform, every_seconds: float, counts: Counts) -> None:
    """A proficiency round every `every_seconds`: opened for LABS_PER_ROUND labs, each lab's
    result submitted with its own token (one lab in the round far off: an action signal),
    closed after its deadline, which scores it."""
    labs = [new_uscc() for _ in range(LABS_PER_ROUND)]
    rng = random.Random(2026)
    async with client(platform.services.url("proficiency")) as proficiency:
        async def one_round() -> None:
            deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=ROUND_DEADLINE_SECONDS)
            opened = await proficiency.post("/rounds", json=proficiency_round(labs, deadline), headers=REGULATOR)
            counts.add("open round", opened.status_code)
            if opened.status_code != 201:
                return
            round_id = opened.json()["id"]
            outlier = rng.choice(labs)
            for lab in labs:
                value = 11.8 if lab == outlier else round(rng.gauss(10.0, 0.3), 3)
                submitted = await proficiency.post(f"/rounds/{round_id}/results", json={"value": value},
                                                   headers=token(Role.LAB, org=lab))
                counts.add("submit result", submitted.status_code)
            await asyncio.sleep(max(0.0, (deadline - dt.datetime.now(dt.UTC)).total_seconds()) + 0.5)
            closed = await proficiency.post(f"/rounds/{round_id}/close", headers=REGULATOR)
            counts.add("close round", closed.status_code)

        await paced(1 / every_seconds, one_round, counts, "round")


async def count_webhooks(receiver: Receiver, counts: Counts) -> None:
    while True:
        await asyncio.sleep(2)
        taken, receiver.receipts[:] = list(receiver.receipts), []
        for receipt in taken:
            counts.add("webhook received", receipt.status)


def load_tasks(platform: Platform, counts: Counts) -> list[asyncio.Task[None]]:
    numbers = [c.number for c in platform.certs]
    return [asyncio.create_task(t) for t in (
        verify_steadily(platform.reader_url, numbers, setting("VERIFY_PER_SECOND", 100), counts),
        spot_checks_steadily(platform, setting("SPOT_CHECKS_PER_SECOND", 5), counts),
        issue_steadily(platform, setting("ISSUE_PER_SECOND", 3), counts),
        rounds_steadily(platform, setting("ROUND_EVERY_SECONDS", 30), counts),
        count_webhooks(platform.receiver, counts))]
