"""The regulator's dashboard over the real broker shows a spot check's cascade down to the
webhooks: the failed spot check, the suspension it caused, and beneath the suspension the
deliveries notifications made of it (one accepted, one being retried), read from
`notifications.events` with the operators' read-only principal; no endpoint URL anywhere."""

from __future__ import annotations

import datetime as dt

import pytest

from conformity_devstack.factories import approval_granted, certificate_request, new_uscc, spot_check_failed
from conformity_devstack.kafka import free_port
from conformity_devstack.testing import eventually, publish_as_owner, running, token
from conformity_operators.dashboard.app import create_app as dashboard_app
from conformity_operators.settings import DashboardSettings
from conformity_operators.webhook_receiver import Receiver
from conformity_shared.auth import Role

from certificates.app import create_app as certificates_app
from notifications.app import create_app as notifications_app
from notifications.settings import NotificationsSettings


@pytest.mark.timeout(300)
async def test_a_spot_checks_cascade_shows_its_webhooks_beneath_the_suspension(service_env, kafka: str) -> None:
    body, holder = new_uscc(), new_uscc()
    accepting = await Receiver(free_port()).start()
    failing = await Receiver(free_port(), fail_ratio=1.0).start()  # answers 500: retried
    settings = NotificationsSettings(delivery_retry_base_seconds=0.05, delivery_retry_max_seconds=0.5,
                                     delivery_poll_seconds=0.2, endpoint_disable_after_failures=1_000_000)
    try:
        async with (running(certificates_app()) as certs, running(notifications_app(settings)) as notes,
                    running(dashboard_app(DashboardSettings(kafka_bootstrap_servers=kafka))) as dashboard):
            await publish_as_owner(kafka, approval_granted(body, ["MS-QMS"]))
            agency = token(Role.AGENCY, org=body)

            async def issued() -> str | None:
                answer = await certs.post("/certificates", headers=agency, json=certificate_request(holder))
                return answer.json()["number"] if answer.status_code == 201 else None

            number = await eventually(issued, timeout=60)
            subscribers = []
            for receiver in (accepting, failing):
                subscriber = new_uscc()
                auth = token(Role.PLATFORM, org=subscriber)
                endpoint = await notes.post("/endpoints", headers=auth, json={"url": receiver.url})
                assert endpoint.status_code == 201, endpoint.text
                receiver.secrets.append(endpoint.json()["secret"])
                watched = await notes.post("/watchlist", headers=auth, json={"kind": "certificate", "values": [number]})
                assert watched.status_code == 200, watched.text
                subscribers.append(subscriber)

            (spot,) = await publish_as_owner(kafka, spot_check_failed(holder, [number]))
            regulator = token(Role.REGULATOR)

            async def cascade() -> dict | None:
                answer = await dashboard.get(f"/api/trace/{spot.correlation_id}", headers=regulator)
                if answer.status_code != 200:
                    return None
                tree = answer.json()
                suspension = next((c for r in tree["roots"] for c in r["children"]
                                   if c["type"] == "certificate.suspended.v1"), None)
                counts = suspension and suspension["deliveries"]
                return tree if counts and counts["delivered"] == 1 and counts["retrying"] == 1 else None

            tree = await eventually(cascade, timeout=120, interval=0.5)
            (root,) = tree["roots"]
            assert root["id"] == spot.id and root["type"] == "supervision.spot_check_failed.v1"
            (suspension,) = [c for c in root["children"] if c["type"] == "certificate.suspended.v1"]
            assert suspension["subject"] == number
            assert suspension["deliveries"] == {"total": 2, "delivered": 1, "retrying": 1, "given_up": 0}
            assert tree["deliveries"] == suspension["deliveries"]
            assert tree["events"] == 1 + len(root["children"])  # the webhooks are not events of the tree

            for viewer in (regulator, token(Role.OPERATOR, subject="ops-duty")):
                listed = (await dashboard.get(f"/api/deliveries/{suspension['id']}", headers=viewer)).json()
                by_subscriber = {d["subscriber_uscc"]: d for d in listed["deliveries"]}
                assert set(by_subscriber) == set(subscribers)
                assert by_subscriber[subscribers[0]]["status"] == "delivered"
                assert by_subscriber[subscribers[0]]["webhook_id"] == accepting.accepted()[0].webhook_id
                assert by_subscriber[subscribers[1]]["status"] == "retrying"
                assert by_subscriber[subscribers[1]]["failure"] == "HTTP 500"
                assert f"127.0.0.1:{failing.port}" not in str(listed) and failing.secrets[0] not in str(listed)
            kept = (await dashboard.get("/api/events", params={"limit": 2000}, headers=regulator)).json()
            assert not any(e["type"].startswith("notification.deliver") for e in kept)  # collapsed, not streamed
            assert (await dashboard.get(f"/api/deliveries/{spot.id}", headers=regulator)).status_code == 404
            assert dt.datetime.fromisoformat(listed["deliveries"][0]["time"])
    finally:
        await accepting.stop()
        await failing.stop()
