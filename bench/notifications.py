"""Notifications at scale: a body's revocation suspends N certificates watched by three
subscribers (by number, by issuing body, by holder); the time from the first
`certificate.suspended.v1` to the last of the 3N webhooks accepted, beside a bare loop POSTing
the same 3N signed payloads to the same receivers (no Kafka, no database: the floor).

    python3 -m uv run --frozen python -m bench.notifications            # N = 10,000
    python3 -m uv run --frozen python -m bench.notifications --n 1000

It starts its own broker (or uses KAFKA_BOOTSTRAP_SERVERS), runs certificates and notifications
in this process on SQLite in a temporary directory, loads the certificates with the bulk loader
(`certificates-load`, about 90% of them valid, so N is the number the revocation suspends), and
prints one JSON line of figures.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

from conformity_devstack import testing
from conformity_devstack.factories import approval_change, new_uscc
from conformity_devstack.kafka import free_port
from conformity_operators.webhook_receiver import Receiver
from conformity_shared import events
from conformity_shared.auth import Role


async def run(n: int, data_dir: Path, bootstrap: str) -> dict:
    os.environ.update({"CONFORMITY_KAFKA_BOOTSTRAP_SERVERS": bootstrap, "CONFORMITY_DATA_DIR": str(data_dir),
                       "CONFORMITY_LOG_JSON": "false", "CONFORMITY_LOG_LEVEL": "WARNING",
                       "CONFORMITY_OUTBOX_POLL_SECONDS": "0.5", **testing.identity_env()})
    from certificates import loader
    from certificates.app import create_app as certificates_app
    from notifications.app import create_app as notifications_app
    from notifications.settings import NotificationsSettings

    count = int(n / 0.9) + 50
    await loader.load(f"sqlite+aiosqlite:///{data_dir / 'certificates.db'}", count, bodies=1, enterprises=3)
    receivers = [await Receiver(free_port()).start() for _ in range(3)]
    settings = NotificationsSettings(delivery_poll_seconds=0.2)
    try:
        async with testing.running(certificates_app()) as certs, testing.running(notifications_app(settings)) as notes:
            body, approval_id, valid = await watch(certs, notes, receivers)
            revoked_at = time.time()
            await testing.publish_as_owner(bootstrap, approval_change(events.ApprovalRevokedV1, body, approval_id,
                                                                      reason="commitment breached"))
            expected = 3 * len(valid)
            while sum(len(r.accepted()) for r in receivers) < expected:
                await asyncio.sleep(0.2)
            last = time.time()
            first_change, attempts = await delivery_counts(notes)
        payloads = [(r, receipt) for r in receivers for receipt in r.accepted()]
        first_suspended = min(json.loads(p.body)["data"]["effective_at"] for _r, p in payloads)
        first_suspended_ts = dt.datetime.fromisoformat(first_suspended).timestamp()
        baseline_seconds = await bare_loop(receivers, payloads)
    finally:
        for receiver in receivers:
            await receiver.stop()
    return figures(settings, len(valid), expected, attempts, revoked_at, first_suspended_ts, last, first_change,
                   baseline_seconds)


async def watch(certs: httpx.AsyncClient, notes: httpx.AsyncClient, receivers: list[Receiver]) -> tuple[str, str, list[str]]:
    """Three subscribers, one endpoint each: one watches every valid number, one the body, one
    the holders. Returns the body, its approval and the valid numbers."""
    from certificates import db as cdb

    runtime = certs._transport.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.sessions() as session:
        body, approval_id = (await session.execute(sa.select(cdb.bodies.c.uscc, cdb.bodies.c.approval_id))).one()
        c = cdb.certificates.c
        valid = list((await session.execute(sa.select(c.number).where(c.status == "valid"))).scalars())
        holders = list((await session.execute(sa.select(c.holder_uscc).distinct())).scalars())
    for receiver, (kind, values) in zip(receivers, [("certificate", valid), ("issuing_body", [body]),
                                                    ("holder", holders)], strict=True):
        auth = testing.token(Role.PLATFORM, org=new_uscc())
        endpoint = (await notes.post("/endpoints", headers=auth, json={"url": receiver.url})).json()
        receiver.secrets.append(endpoint["secret"])
        answer = await notes.post("/watchlist", headers=auth, json={"kind": kind, "values": values})
        assert answer.status_code == 200, answer.text
    return body, approval_id, valid


async def delivery_counts(notes: httpx.AsyncClient) -> tuple[object, int]:
    """When notifications recorded its first change, and how many attempts it made."""
    from notifications import db as ndb

    runtime = notes._transport.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.sessions() as session:
        first_change = await session.scalar(sa.select(sa.func.min(ndb.changes.c.at)))
        attempts = await session.scalar(sa.select(sa.func.count()).select_from(ndb.delivery_attempts))
    return first_change, attempts or 0


def figures(settings, n: int, expected: int, attempts: int, revoked_at: float, first_suspended_ts: float,
            last: float, first_change: object, baseline_seconds: float) -> dict:
    platform_seconds = last - first_suspended_ts
    return {
        "benchmark": "notifications", "n_suspended": n, "webhooks": expected, "attempts": attempts,
        "revocation_to_first_suspension_s": round(first_suspended_ts - revoked_at, 2),
        "first_suspension_to_last_delivery_s": round(platform_seconds, 2),
        "notifications_first_change_recorded_at": str(first_change),
        "webhooks_per_s": round(expected / platform_seconds, 1),
        "bare_loop_s": round(baseline_seconds, 2), "bare_loop_webhooks_per_s": round(expected / baseline_seconds, 1),
        "delivery_workers": settings.delivery_workers, "delivery_concurrency": settings.delivery_concurrency,
        "delivery_batch_size": settings.delivery_batch_size,
    }


async def bare_loop(receivers: list[Receiver], payloads: list) -> float:
    """The same signed requests, POSTed by one httpx client with the worker's concurrency."""
    from notifications.domain import signing

    gate = asyncio.Semaphore(64)
    async with httpx.AsyncClient(timeout=10) as http:
        async def post(receiver: Receiver, body: bytes, webhook_id: str) -> None:
            async with gate:
                text = body.decode()
                headers = signing.headers(receiver.secrets, webhook_id, dt.datetime.now(dt.UTC), text)
                for attempt in range(3):  # as the worker would, try again on a dropped connection
                    try:
                        answer = await http.post(receiver.url, content=body, headers=headers)
                        break
                    except httpx.TransportError:
                        if attempt == 2:
                            raise
                answer.raise_for_status()

        started = time.monotonic()
        await asyncio.gather(*(post(r, p.body, p.webhook_id) for r, p in payloads))
        return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.notifications", description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="certificates the revocation suspends (about)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="conformity-bench-notifications-") as tmp, testing.broker() as bootstrap:
        figures = asyncio.run(run(args.n, Path(tmp), bootstrap))
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
