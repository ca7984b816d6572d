"""Notifications at full scale over the real broker: a body's revocation suspends N = 10,000
certificates watched by three subscribers (by number, by issuing body, by holder), 3N = 30,000
webhooks to three local receivers: one fails 30% of requests, one is slow (0.3 s an answer),
one is down and comes back once all its deliveries have been tried.

None is lost, each change reaches each receiver under one webhook-id (a repeat is the same
webhook-id and the same bytes), and every signature verifies. Order per certificate with
several changes is tested at N = 300 in tests/integration/test_notifications_flow.py, where the
suspension deadline then withdraws them.

Its own tier, on SQLite, one notifications replica: `make scale` (`pytest -m scale`; every other
pytest run deselects it), last in `make test` and so in CI. About 4 minutes on two cores not
shared with other work (BENCHMARKS.md has the figures and where the time went). N comes from
CONFORMITY_SCALE_N (default 10,000). The figures (time from the revocation to the last webhook accepted, attempts, repeats per receiver) are
printed and written to var/scale/notifications.json; they are not asserted (speed is
BENCHMARKS.md's business).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from conformity_devstack.factories import approval_change, new_uscc
from conformity_devstack.kafka import free_port
from conformity_devstack.testing import eventually, publish_as_owner, running, token
from conformity_devstack.webhook_checks import accepted_changes, all_delivered, assert_none_lost_and_repeats_the_same
from conformity_operators.webhook_receiver import Receiver
from conformity_shared import events
from conformity_shared.auth import Role

from certificates import db as cdb, loader
from certificates.app import create_app as certificates_app
from certificates.settings import CertificatesSettings
from notifications import db as ndb
from notifications.app import create_app as notifications_app
from notifications.settings import NotificationsSettings

ROOT = Path(__file__).resolve().parents[3]
N = int(os.environ.get("CONFORMITY_SCALE_N", "10000"))


def settings() -> NotificationsSettings:
    """Retries in fractions of a second (the defaults are seconds to an hour), nothing disabled."""
    return NotificationsSettings(delivery_retry_base_seconds=0.05, delivery_retry_max_seconds=1.0,
                                 delivery_poll_seconds=0.2, delivery_timeout_seconds=5,
                                 endpoint_disable_after_failures=10_000_000)


@pytest.mark.integration
@pytest.mark.scale
@pytest.mark.timeout(3600)
async def test_a_revocation_of_ten_thousand_certificates_reaches_three_subscribers(service_env, kafka: str,
                                                                                   capsys: pytest.CaptureFixture) -> None:
    # The bulk loader writes about 90% valid certificates: N is the number the revocation suspends.
    await loader.load(CertificatesSettings().resolved_database_url(), int(N / 0.9) + 50, bodies=1, enterprises=3)
    flaky = await Receiver(free_port(), fail_ratio=0.3, seed=11).start()
    slow = await Receiver(free_port(), delay_seconds=0.3).start()
    down = Receiver(free_port())  # not listening yet: connections are refused
    receivers = {"flaky": flaky, "slow": slow, "down": down}
    try:
        async with running(certificates_app()) as certs, running(notifications_app(settings())) as notes:
            runtime = certs._transport.app.state.runtime  # type: ignore[attr-defined]
            c = cdb.certificates.c
            async with runtime.sessions() as session:
                body, approval_id = (await session.execute(sa.select(cdb.bodies.c.uscc, cdb.bodies.c.approval_id))).one()
                valid = list((await session.execute(sa.select(c.number).where(c.status == "valid"))).scalars())
                holders = list((await session.execute(sa.select(c.holder_uscc).distinct())).scalars())
            for receiver, (kind, values) in ((flaky, ("certificate", valid)), (slow, ("issuing_body", [body])),
                                             (down, ("holder", holders))):
                auth = token(Role.PLATFORM, org=new_uscc())
                endpoint = await notes.post("/endpoints", headers=auth, json={"url": receiver.url})
                assert endpoint.status_code == 201, endpoint.text
                receiver.secrets.append(endpoint.json()["secret"])
                watched = await notes.post("/watchlist", headers=auth, json={"kind": kind, "values": values})
                assert watched.status_code == 200, watched.text

            started = time.monotonic()
            await publish_as_owner(kafka, approval_change(events.ApprovalRevokedV1, body, approval_id,
                                                          reason="commitment breached"))
            expected = {(number, "suspended") for number in valid}
            await eventually(lambda: _all_tried(notes, down, len(valid)), timeout=1800, interval=1)
            down_for = time.monotonic() - started
            await down.start()  # back
            for receiver in receivers.values():
                await eventually(lambda r=receiver: (len(r.accepted()) >= len(expected) and accepted_changes(r) >= expected)
                                 or None, timeout=3000, interval=1)
            took = time.monotonic() - started
            await eventually(lambda: all_delivered(notes, 3 * len(valid)), timeout=120)
            async with notes._transport.app.state.runtime.sessions() as session:  # type: ignore[attr-defined]
                attempts = await session.scalar(sa.select(sa.func.count()).select_from(ndb.delivery_attempts))

        for receiver in receivers.values():
            assert receiver.bad_signatures == 0
            assert_none_lost_and_repeats_the_same(receiver, expected)
        assert any(r.status == 500 for r in flaky.receipts)  # the 30% failures did happen, and were retried

        figures = {
            "test": "notifications_at_scale", "n_suspended": len(valid), "webhooks": 3 * len(valid),
            "attempts": attempts, "revocation_to_last_webhook_s": round(took, 1),
            "webhooks_per_s": round(3 * len(valid) / took, 1), "down_receiver_down_for_s": round(down_for, 1),
            "receivers": {name: {"received": len(r.receipts), "accepted": len(r.accepted()),
                                 "repeats": len(r.receipts) - len({x.webhook_id for x in r.receipts})}
                          for name, r in receivers.items()},
            "cpus": os.cpu_count(), "load_average": [round(x, 1) for x in os.getloadavg()],
        }
        out = ROOT / "var" / "scale" / "notifications.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(figures, indent=2) + "\n")
        with capsys.disabled():
            print(f"\nnotifications at scale ({out.relative_to(ROOT)}): {json.dumps(figures)}")
    finally:
        for receiver in receivers.values():
            await receiver.stop()


async def _all_tried(notes, receiver: Receiver, owed: int) -> bool | None:  # noqa: ANN001
    """Every delivery to the down receiver exists and has been tried (and failed) at least once."""
    runtime = notes._transport.app.state.runtime
    d, e = ndb.deliveries.c, ndb.endpoints.c
    joined = ndb.deliveries.join(ndb.endpoints)
    async with runtime.sessions() as session:
        tried = await session.scalar(sa.select(sa.func.count()).select_from(joined)
                                     .where(e.url == receiver.url, d.attempts > 0))
    await asyncio.sleep(0)
    return (tried or 0) >= owed or None


