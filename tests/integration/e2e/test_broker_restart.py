"""The broker goes away while events flow, and comes back: the services recover on their own.

A certification body with some two thousand valid certificates (the bulk loader's data set,
the body then approved over HTTP) has its approval revoked; right after the answer the broker
is stopped (SIGTERM: a controlled shutdown) or killed (SIGKILL), while the revocation and the
suspensions it causes are on their way. During the outage a product spot check fails too:
its events can only wait in supervision's outbox. The broker comes back on the same port with
its data; nobody touches the services (their process ids are the same at the end). Then every
valid certificate of the body is suspended exactly once, the spot-checked certificate too,
every event is on its topic once in effect, and every service answers healthy again.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import sqlalchemy as sa

from conformity_shared import events
from conformity_devstack.apps import SERVICES
from conformity_devstack.factories import spot_check_result
from conformity_devstack.testing import eventually

from approval import db as approval_db
from certificates import db as certificates_db
from supervision import db as supervision_db

OUTBOXES = {"approval": approval_db.outbox, "certificates": certificates_db.outbox, "supervision": supervision_db.outbox}
SUSPENDED = events.CertificateSuspendedV1.ce_type


async def pending(up, service: str) -> int:  # noqa: ANN001
    outbox = OUTBOXES[service]
    return await up.databases.scalar(
        service, sa.select(sa.func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
    )


async def broker_outage_while_events_flow(up, world, observer, figures, name: str, *, kill: bool) -> None:  # noqa: ANN001
    body, valid = await world.loaded_body(2000)
    holder = world.new_uscc()
    spot_checked = await world.issue(await world.approved_body(), holder)
    [inspector, co_inspector] = await world.inspectors(2)  # at least two, as a draw assigns
    inspection = await world.order_inspection(holder, "product_spot_check", [inspector, co_inspector])
    pids = {s: up.stack.pid(s) for s in SERVICES}
    revocation_chain, spot_chain = f"e2e-outage-revoke-{uuid.uuid4()}", f"e2e-outage-spot-{uuid.uuid4()}"

    revoked = await world.approval.post(
        f"/approvals/{body.approval_id}/revoke", headers={**world.regulator, "X-Correlation-ID": revocation_chain},
        json={"reason": "certificates issued without audits"},
    )
    assert revoked.status_code == 200, revoked.text
    down_at = time.monotonic()
    if kill:
        up.kafka.kill()
    else:
        up.kafka.stop()
    # During the outage the platform keeps taking requests: the spot check's events wait in the outbox.
    await world.record(inspection["id"], inspector, spot_check_result([spot_checked]), spot_chain)
    in_flight = {s: await pending(up, s) for s in OUTBOXES}
    suspended_at_outage = await up.databases.scalar("certificates", sa.select(sa.func.count()).select_from(
        certificates_db.certificates).where(certificates_db.certificates.c.number.in_(valid))
        .where(certificates_db.certificates.c.status == "suspended"))
    assert in_flight["supervision"] >= 1

    async def reported_degraded() -> bool:
        return all((up.health(s) or {}).get("broker", "ok") != "ok" for s in SERVICES)

    await eventually(reported_degraded, timeout=20)
    await asyncio.sleep(max(0.0, 5 - (time.monotonic() - down_at)))
    up.kafka.start()
    outage = time.monotonic() - down_at
    back_at = time.monotonic()

    # Nobody restarts anything: the services find the broker again on their own.
    async def all_delivered() -> bool:
        return (await world.public(spot_checked))["status"] == "suspended" and await up.databases.scalar(
            "certificates", sa.select(sa.func.count()).select_from(certificates_db.certificates)
            .where(certificates_db.certificates.c.number.in_(valid))
            .where(certificates_db.certificates.c.status == "suspended")) == len(valid)

    await eventually(all_delivered, timeout=120, interval=0.5)
    await eventually(lambda: all((up.health(s) or {}).get("status") == "ok" for s in SERVICES), timeout=60)
    recovered = time.monotonic() - back_at

    await observer.until(lambda: all(observer.of(SUSPENDED, n) for n in valid), timeout=90)
    await observer.until(lambda: observer.of(SUSPENDED, spot_checked), timeout=30)
    await observer.settle(1.0)
    revocation = observer.of(events.ApprovalRevokedV1.ce_type, body.approval_id)
    assert len(revocation) == 1
    observer.caused(revocation[0], revocation_chain, revocation_chain)
    for number in valid:
        [event] = observer.of(SUSPENDED, number)
        observer.caused(event, revocation_chain, revocation[0])
    [spot_check] = observer.of(events.SpotCheckFailedV1.ce_type, inspection["id"])
    observer.caused(spot_check, spot_chain, spot_chain)
    observer.caused(observer.of(SUSPENDED, spot_checked)[0], spot_chain, spot_check)

    h = certificates_db.history
    per_certificate = await up.databases.scalar("certificates", sa.select(sa.func.max(sa.literal_column("n"))).select_from(
        sa.select(sa.func.count().label("n")).where(h.c.certificate_number.in_(valid)).where(h.c.to_status == "suspended")
        .group_by(h.c.certificate_number).subquery()))
    assert per_certificate == 1
    assert {s: up.stack.pid(s) for s in SERVICES} == pids, "a service was restarted"
    # The relay marks rows published after the broker's acknowledgement, so the observer can read
    # the last events a moment before their rows are marked: the outboxes drain, on their own.
    async def drained() -> bool:
        return all([await pending(up, service) == 0 for service in OUTBOXES])

    await eventually(drained, timeout=30)
    figures.record(
        name, faults_injected=1, broker="killed" if kill else "stopped", outage_s=round(outage, 1),
        recovered_after_s=round(recovered, 1), in_flight_at_outage=in_flight, suspended_before_outage=suspended_at_outage,
        events_checked=len(valid) + 3, wire_copies=sum(observer.copies(SUSPENDED, n) for n in valid) - len(valid),
        lost=0, duplicated_in_effect=0,
    )


async def test_broker_stopped_while_events_flow_services_recover_on_their_own(up, world, observer, figures, request) -> None:
    await broker_outage_while_events_flow(up, world, observer, figures, request.node.name, kill=False)


async def test_broker_killed_while_events_flow_services_recover_on_their_own(up, world, observer, figures, request) -> None:
    await broker_outage_while_events_flow(up, world, observer, figures, request.node.name, kill=True)
