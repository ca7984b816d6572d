"""Every guarantee of RELIABILITY.md, shown with two replicas of each service on PostgreSQL and a
three-broker cluster, over HTTP only, with faults injected while events flow.

a. A bulk revocation of 10,000 certificates while the broker leading a busy partition is
   killed and the certificates replica publishing the outbox is SIGKILLed: nothing lost,
   nothing doubled in effect.
b. Order per aggregate: certificates each suspended, reinstated and suspended again through
   alternating replicas while the active publisher is killed; the observer sees each
   certificate's events in commit order, and so does the consumer (supervision's read model).
c. Two supervision replicas, each told to run the credit restoration several times at once,
   never double a credit change.
d. A whole service (both replicas) stopped while events wait for it catches up on its own.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from aiokafka.admin import AIOKafkaAdminClient

from conformity_devstack.cluster import Cluster, Figures, Observer, Replicas
from conformity_devstack.factories import application, as_inspector, certificate_request, new_uscc
from conformity_devstack.stack import replica
from conformity_devstack.testing import eventually, token
from conformity_shared import events, topics
from conformity_shared.auth import Role

from certificates import db as certificates_db, loader
from supervision import db as supervision_db

pytestmark = pytest.mark.integration

REGULATOR = token(Role.REGULATOR)
SUSPENDED = events.CertificateSuspendedV1.ce_type
REINSTATED = events.CertificateReinstatedV1.ce_type
CREDIT_CHANGED = events.CreditClassChangedV1.ce_type
c, h = certificates_db.certificates, certificates_db.history


def count_where(table: sa.Table, *conditions: Any) -> Any:
    return sa.select(sa.func.count()).select_from(table).where(*conditions)


# --- set-up over HTTP (and the bulk loader for large data sets) ----------------------------------


async def approved_body(http: Replicas, org: str | None = None) -> tuple[str, str, str | None]:
    """A certification body granted on the spot; its USCC, approval id and verification id."""
    org = org or new_uscc()
    answer = await http.next("approval").post("/applications", json=application(org), headers=token(Role.AGENCY, org=org))
    assert answer.status_code == 201, answer.text
    approval = answer.json()["approval"]
    verification = approval["verifications"][0]["id"] if approval["verifications"] else None
    return org, approval["id"], verification


async def loaded_body(up: Cluster, http: Replicas, count: int) -> tuple[str, str, set[str]]:
    """A body with `count` certificates written by the bulk loader, approved over HTTP, known to
    certificates' read model; its USCC, approval id and valid certificate numbers."""
    bodies = certificates_db.bodies
    async with up.engine("certificates") as engine, engine.connect() as conn:
        before = set((await conn.execute(sa.select(bodies.c.uscc))).scalars())
    await loader.load(up.database_url("certificates"), count, seed=uuid.uuid4().int % 10**6, bodies=1, migrate=False)
    async with up.engine("certificates") as engine, engine.connect() as conn:
        [org] = set((await conn.execute(sa.select(bodies.c.uscc))).scalars()) - before
        valid = set((await conn.execute(
            sa.select(c.c.number).where(c.c.issuing_body_uscc == org, c.c.status == "valid"))).scalars())
    _, approval_id, _ = await approved_body(http, org)
    await eventually(lambda: up.scalar("certificates", sa.select(bodies.c.approval_id).where(bodies.c.uscc == org)),
                     timeout=60)
    return org, approval_id, valid


async def partition_leader(up: Cluster, topic: str, partition: int) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=up.kafka.bootstrap_servers, **up.kafka.access().client_settings())
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return next(p["leader"] for p in described["partitions"] if p["partition"] == partition)


async def suspensions_per_certificate(up: Cluster, numbers: set[str]) -> dict[str, int]:
    """How many `suspended` entries each certificate's history holds."""
    found = dict.fromkeys(numbers, 0)
    ordered = sorted(numbers)
    async with up.engine("certificates") as engine, engine.connect() as conn:
        for i in range(0, len(ordered), 5000):
            rows = await conn.execute(
                sa.select(h.c.certificate_number, sa.func.count()).where(h.c.certificate_number.in_(ordered[i:i + 5000]))
                .where(h.c.to_status == "suspended").group_by(h.c.certificate_number))
            found.update(dict(rows.all()))
    return found


# --- a. a bulk revocation through faults -----------------------------------------------------------


async def test_a_bulk_revocation_loses_and_doubles_nothing_while_a_broker_and_a_replica_die(
    up: Cluster, http: Replicas, observer: Observer, figures: Figures
) -> None:
    body, approval_id, valid = await loaded_body(up, http, 11_200)  # about 90% of them valid
    leader = await partition_leader(up, topics.CERTIFICATES, 0)
    revoked = await http.next("approval").post(
        f"/approvals/{approval_id}/revoke", json={"reason": "commitment found untrue"}, headers=REGULATOR)
    assert revoked.status_code == 200, revoked.text

    await observer.until(lambda: len(observer.of_type(SUSPENDED, valid)) >= 500, timeout=180)
    up.kafka.kill_node(leader)  # the broker leading partition 0 of certificates.events
    publisher = up.publisher("certificates")
    assert publisher is not None, "no certificates replica publishes"
    up.stack.kill(replica("certificates", publisher))  # SIGKILL, mid-publish
    _, takeover = await up.wait_publisher("certificates", other_than=publisher)
    await asyncio.gather(asyncio.to_thread(up.kafka.start_node, leader),
                         asyncio.to_thread(up.stack.start_service, replica("certificates", publisher)))

    assert len(valid) >= 10_000
    seen = await observer.until(
        lambda: (s := {o.key for o in observer.of_type(SUSPENDED, valid)}) == valid and s, timeout=300)
    per_certificate = await suspensions_per_certificate(up, valid)
    assert seen == valid, "a suspension never reached the topic"
    assert set(per_certificate.values()) == {1}, "a certificate was suspended twice, or not at all"
    figures.record("a. bulk revocation, broker leader and publishing replica killed", events_checked=len(valid),
                   faults_injected=2, lost=0, doubled_in_effect=0, duplicates_on_the_wire=observer.duplicates,
                   publisher_takeover_s=round(takeover, 2))


# --- b. order per aggregate across replicas -------------------------------------------------------


async def issued(http: Replicas, body: str, count: int) -> list[str]:
    """`count` certificates issued over HTTP by `body` (supervision learns of them by event)."""
    numbers: list[str] = []
    for _ in range(count):
        async def issue() -> str | None:
            answer = await http.next("certificates").post(
                "/certificates", json=certificate_request(new_uscc()), headers=token(Role.AGENCY, org=body))
            assert answer.status_code in (201, 422), answer.text
            return answer.json()["number"] if answer.status_code == 201 else None

        numbers.append(await eventually(issue, timeout=60))
    return numbers


async def suspend_reinstate_suspend(http: Replicas, body: str, number: str, replicas: tuple[int, int] = (1, 2)) -> None:
    """Three transitions of one certificate, alternating between `replicas` (the same one twice
    while the other is down, as a proxy would route)."""
    agency = token(Role.AGENCY, org=body)
    first, second = replicas
    for number_of_replica, action in ((first, "suspend"), (second, "reinstate"), (first, "suspend")):
        answer = await http.of("certificates", number_of_replica).post(
            f"/certificates/{number}/{action}", json={"reason": "misuse"}, headers=agency)
        assert answer.status_code == 200, answer.text


async def history_order(up: Cluster, number: str) -> list[str]:
    async with up.engine("certificates") as engine, engine.connect() as conn:
        rows = await conn.execute(sa.select(h.c.to_status).where(h.c.certificate_number == number).order_by(h.c.id))
        return [status for status in rows.scalars()][1:]  # after the issuance


async def test_each_certificates_events_keep_their_commit_order_through_replicas_and_a_publisher_killed(
    up: Cluster, http: Replicas, observer: Observer, figures: Figures
) -> None:
    body, _, _ = await approved_body(http)
    numbers = await issued(http, body, 40)
    first, rest = numbers[:12], numbers[12:]
    await asyncio.gather(*(suspend_reinstate_suspend(http, body, n) for n in first))
    publisher = up.publisher("certificates")
    up.stack.kill(replica("certificates", publisher))  # the active publisher, while the rest go on
    survivor = 3 - publisher
    others = asyncio.gather(*(suspend_reinstate_suspend(http, body, n, (survivor, survivor)) for n in rest[:14]))
    _, takeover = await up.wait_publisher("certificates", other_than=publisher)
    await others
    await asyncio.to_thread(up.stack.start_service, replica("certificates", publisher))
    await asyncio.gather(*(suspend_reinstate_suspend(http, body, n) for n in rest[14:]))

    wanted = set(numbers)
    mine = lambda: [o for o in observer.order if o.key in wanted and o.ce_type in (SUSPENDED, REINSTATED)]  # noqa: E731
    await observer.until(lambda: len(mine()) == 3 * len(numbers), timeout=120)
    as_seen = {n: [o.ce_type.split(".")[1] for o in mine() if o.key == n] for n in numbers}
    committed = {n: await history_order(up, n) for n in numbers}
    assert all(as_seen[n] == ["suspended", "reinstated", "suspended"] for n in numbers), as_seen
    assert all(committed[n] == ["suspended", "valid", "suspended"] for n in numbers), committed

    t = supervision_db.target_certificates
    consumer_view = lambda: up.scalar("supervision", count_where(t, t.c.certificate_number.in_(numbers),  # noqa: E731
                                                                  t.c.status == "suspended"))
    await eventually(lambda: _equals(consumer_view, len(numbers)), timeout=60)
    figures.record("b. order per certificate through 2 replicas, publisher killed",
                   events_checked=3 * len(numbers), faults_injected=1, out_of_order=0,
                   publisher_takeover_s=round(takeover, 2))


async def _equals(read: Any, expected: int) -> bool:
    return await read() == expected


# --- c. credit restoration on two replicas at once ------------------------------------------------


async def breached(http: Replicas, org: str, verification: str) -> None:
    """An inspector finds the body's commitment untrue: approval revokes, supervision lowers its credit to D."""
    inspector = f"insp-{uuid.uuid4().hex[:8]}"
    assigned = await http.next("approval").post(f"/verifications/{verification}/assign",
                                                json={"inspector_id": inspector}, headers=REGULATOR)
    assert assigned.status_code == 200, assigned.text
    recorded = await http.next("approval").post(
        f"/verifications/{verification}/result", headers=as_inspector(inspector),
        json={"outcome": "breached", "findings": "3 qualified auditors, not the 12 declared"})
    assert recorded.status_code == 200, recorded.text


async def credit_class(http: Replicas, org: str) -> str | None:
    answer = await http.next("supervision").get(f"/targets/{org}", headers=REGULATOR)
    return answer.json()["credit_class"] if answer.status_code == 200 else None


async def restore_everywhere(http: Replicas, as_of: dt.datetime, rounds: int = 3) -> int:
    """Both replicas told `rounds` times each, all at once, to run the restoration as at `as_of`."""
    calls = [http.of("supervision", n).post("/credit/restoration", params={"as_of": as_of.isoformat()},
                                            headers=REGULATOR) for n in (1, 2) for _ in range(rounds)]
    answers = await asyncio.gather(*calls)
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    return sum(a.json()["restored"] for a in answers)


async def test_two_supervision_replicas_never_double_a_credit_change(
    up: Cluster, http: Replicas, observer: Observer, figures: Figures
) -> None:
    bodies = [await approved_body(http) for _ in range(12)]
    for org, _, verification in bodies:
        await breached(http, org, verification)
    orgs = {org for org, _, _ in bodies}
    for org in orgs:
        await eventually(lambda org=org: _is(credit_class(http, org), "D"), timeout=60)

    now = dt.datetime.now(dt.UTC)
    assert await restore_everywhere(http, now + dt.timedelta(days=400)) == len(orgs)  # D -> C, once each
    assert await restore_everywhere(http, now + dt.timedelta(days=800)) == len(orgs)  # C -> B, once each
    changes = supervision_db.credit_changes
    restorations = await up.scalar("supervision", count_where(
        changes, changes.c.organisation_uscc.in_(orgs), changes.c.cause.like("clean_period%")))
    assert restorations == 2 * len(orgs)
    published = lambda: [o for o in observer.of_type(CREDIT_CHANGED, orgs) if "clean" in o.body["cause"]]  # noqa: E731
    await observer.until(lambda: len(published()) >= 2 * len(orgs), timeout=60)
    await asyncio.sleep(1)  # anything doubled would arrive with the rest
    assert len(published()) == 2 * len(orgs)
    assert [await credit_class(http, org) for org in orgs] == ["B"] * len(orgs)
    figures.record("c. credit restoration, 2 replicas x 3 passes at once", organisations=len(orgs),
                   restorations=2 * len(orgs), doubled=0)


async def _is(read: Any, expected: str) -> bool:
    return await read == expected


# --- d. a whole service away, then back ----------------------------------------------------------


async def test_a_service_whose_replicas_all_stopped_catches_up_when_it_returns(
    up: Cluster, http: Replicas, observer: Observer, figures: Figures
) -> None:
    body, approval_id, valid = await loaded_body(up, http, 300)
    for number in (1, 2):
        up.stack.stop_service(replica("certificates", number))
    stopped_at = time.monotonic()
    revoked = await http.next("approval").post(
        f"/approvals/{approval_id}/revoke", json={"reason": "scope never covered"}, headers=REGULATOR)
    assert revoked.status_code == 200, revoked.text
    await observer.until(lambda: any(o.ce_type == events.ApprovalRevokedV1.ce_type and o.key == approval_id
                                     for o in observer.order), timeout=60)
    await asyncio.sleep(3)  # the revocation waits on the topic while no replica reads it
    assert not observer.of_type(SUSPENDED, valid)

    returned_at = time.monotonic()
    await asyncio.gather(*(asyncio.to_thread(up.stack.start_service, replica("certificates", n)) for n in (1, 2)))
    await observer.until(lambda: {o.key for o in observer.of_type(SUSPENDED, valid)} == valid, timeout=180)
    caught_up = time.monotonic() - returned_at  # from the restart, start-up included
    assert set((await suspensions_per_certificate(up, valid)).values()) == {1}
    figures.record("d. certificates stopped (both replicas), then back", events_checked=len(valid),
                   faults_injected=2, away_s=round(returned_at - stopped_at, 1), caught_up_s=round(caught_up, 1))
