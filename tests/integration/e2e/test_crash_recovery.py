"""SIGKILL, the crash no code can clean up after, at the two moments that matter.

1. The producing service killed between its database commit and its publish: approval
   commits the revocation (state and outbox row in one transaction), answers, and is killed
   before its relay has published. After the restart the event is published from the outbox,
   and the cascade it causes happens exactly once.
2. The consuming service killed during a bulk cascade: a body with more than 10,000 valid
   certificates is revoked; certificates is killed while it suspends them (inside its one
   transaction), restarted, and killed again while its relay publishes the 10,000 events,
   and restarted again. Afterwards every one of those certificates shows exactly one
   suspension in its history (read from the database), and an observer that de-duplicates by
   ce_id sees exactly one certificate.suspended event per certificate, none missing.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid

import sqlalchemy as sa

from conformity_shared import events, topics
from conformity_devstack.testing import eventually

from approval import db as approval_db
from certificates import db as certificates_db

SUSPENDED = events.CertificateSuspendedV1.ce_type
REVOKED = events.ApprovalRevokedV1.ce_type
c, h = certificates_db.certificates, certificates_db.history


async def suspended_count(up, numbers: set[str]) -> int:  # noqa: ANN001
    """Certificates among `numbers` suspended in the database; queried in chunks (SQLite's variable limit)."""
    total = 0
    ordered = sorted(numbers)
    async with up.databases.engine("certificates") as engine, engine.connect() as conn:
        for i in range(0, len(ordered), 5000):
            total += await conn.scalar(sa.select(sa.func.count()).select_from(c).where(c.c.number.in_(ordered[i:i + 5000]))
                                       .where(c.c.status == "suspended"))
    return total


async def unpublished(up, service: str, outbox: sa.Table) -> int:  # noqa: ANN001
    return await up.databases.scalar(
        service, sa.select(sa.func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
    )


async def suspensions_in_history(up, body_uscc: str) -> dict[str, list[str | None]]:  # noqa: ANN001
    """Certificate number -> the causing event of each `suspended` history entry (revocation suspensions)."""
    found: dict[str, list[str | None]] = {}
    async with up.databases.engine("certificates") as engine, engine.connect() as conn:
        rows = await conn.execute(
            sa.select(h.c.certificate_number, h.c.cause_event_id).join(c, c.c.number == h.c.certificate_number)
            .where(c.c.issuing_body_uscc == body_uscc).where(h.c.to_status == "suspended")
            .where(h.c.reason == "issuing_body_revoked")
        )
        for number, cause in rows:
            found.setdefault(number, []).append(cause)
    return found


# --- the producer killed between commit and publish ------------------------------------------------


# Approval may write only its own stream and its dead-letter topic; the backlog goes to the
# latter, which no service consumes, so that it costs the consumers nothing.
BACKLOG_TOPIC = topics.dead_letters("approval")


async def relay_backlog(up, rows: int) -> None:  # noqa: ANN001
    """Rows committed before the revocation in approval's outbox, so that its relay is still busy
    publishing them (in order) when the revocation commits: a relay behind, as under load."""
    outbox = approval_db.outbox
    now = dt.datetime.now(dt.UTC)
    async with up.databases.engine("approval") as engine, engine.begin() as conn:
        for start in range(0, rows, 10_000):
            await conn.execute(sa.insert(outbox), [
                {"event_id": str(uuid.uuid4()), "topic": BACKLOG_TOPIC, "key": f"backlog-{i}", "event_type": "e2e.backlog.v1",
                 "headers": b"", "payload": b"{}", "created_at": now}
                for i in range(start, min(rows, start + 10_000))
            ])


async def test_producer_killed_between_commit_and_publish_publishes_after_restart(up, world, observer, figures, request) -> None:
    landed: list[str] = []
    for attempt, backlog in enumerate((60_000, 0)):
        body = await world.approved_body()
        numbers = {await world.issue(body, world.new_uscc()) for _ in range(3)}
        chain = f"e2e-producer-kill-{uuid.uuid4()}"
        if backlog:
            await relay_backlog(up, backlog)
        revoked = await world.approval.post(
            f"/approvals/{body.approval_id}/revoke", headers={**world.regulator, "X-Correlation-ID": chain},
            json={"reason": "certificates issued without audits"},
        )
        assert revoked.status_code == 200, revoked.text
        up.stack.kill("approval")  # at once after the answer: the transaction has committed
        assert (revoked.json())["status"] == "revoked"
        # Where the kill landed: the revocation's outbox row (committed with the state), and the topic.
        row = await _revocation_row(up, body.approval_id)
        assert row is not None, "the revocation and its outbox row commit together"
        await observer.settle(1.0)
        on_wire = bool(observer.of(REVOKED, body.approval_id))
        if row.published_at is None and not on_wire:
            landed.append("between commit and publish")
        elif row.published_at is None:
            landed.append("after the send, before the relay recorded it (sent again after the restart)")
        else:
            landed.append("after publish")
        if backlog:
            assert landed[-1] == "between commit and publish", "with a relay backlog the kill lands before the publish"

        up.stack.start_service("approval")
        revocation = await observer.one(REVOKED, body.approval_id, timeout=120)
        observer.caused(revocation, chain, chain)
        for number in numbers:
            await world.status_becomes(number, "suspended", timeout=60)
            observer.caused(await observer.one(SUSPENDED, number), chain, revocation)
        figures.record(request.node.name, **{f"attempt_{attempt + 1}": {
            "relay_backlog_rows": backlog, "kill_landed": landed[-1],
            "revocation_copies_on_wire": observer.copies(REVOKED, body.approval_id)}})
    figures.record(request.node.name, faults_injected=2, events_checked=2 * 4, lost=0, duplicated_in_effect=0)


async def _revocation_row(up, approval_id: str):  # noqa: ANN001, ANN202
    outbox = approval_db.outbox
    async with up.databases.engine("approval") as engine, engine.connect() as conn:
        return (await conn.execute(
            sa.select(outbox.c.event_id, outbox.c.published_at).where(outbox.c.key == approval_id)
            .where(outbox.c.event_type == REVOKED)
        )).first()


# --- the consumer killed during a bulk cascade ---------------------------------------------------------


async def test_bulk_cascade_survives_sigkill_of_certificates_without_loss_or_duplicates(
    up, world, observer, figures, request
) -> None:
    body, valid = await world.loaded_body(11_600)
    assert len(valid) >= 10_000
    kills: list[dict[str, object]] = []
    chain = f"e2e-bulk-kill-{uuid.uuid4()}"
    started = time.monotonic()
    revoked = await world.approval.post(
        f"/approvals/{body.approval_id}/revoke", headers={**world.regulator, "X-Correlation-ID": chain},
        json={"reason": "commitment breached: certificates issued without audits"},
    )
    assert revoked.status_code == 200, revoked.text

    # Kill 1: inside the consumer's transaction (the write lock held, nothing committed yet).
    await eventually(lambda: up.databases.writer_busy("certificates", 0.05), timeout=60, interval=0.01)
    up.stack.kill("certificates")
    committed = await suspended_count(up, valid)
    kills.append({"after_s": round(time.monotonic() - started, 2), "suspended_committed": committed,
                  "landed": "inside the consumer's transaction" if committed == 0 else "after its commit"})
    up.stack.start_service("certificates")

    # Kill 2: while the relay publishes the ten thousand events (committed, partly published).
    outbox = certificates_db.outbox

    async def publishing() -> bool:
        return await suspended_count(up, valid) == len(valid) and 0 < await unpublished(up, "certificates", outbox) < len(valid)

    await eventually(publishing, timeout=120, interval=0.02)
    left = await unpublished(up, "certificates", outbox)
    up.stack.kill("certificates")
    kills.append({"after_s": round(time.monotonic() - started, 2), "unpublished_at_kill": left,
                  "landed": "while the relay was publishing"})
    up.stack.start_service("certificates")

    await eventually(lambda: _all_published(up, outbox), timeout=180, interval=0.5)
    await observer.until(lambda: all(observer.of(SUSPENDED, n) for n in valid), timeout=180)
    await observer.settle(2.0)
    elapsed = time.monotonic() - started

    # The database: each certificate suspended once, by the revocation event, and still suspended.
    [revocation] = observer.of(REVOKED, body.approval_id)
    observer.caused(revocation, chain, chain)
    history = await suspensions_in_history(up, body.uscc)
    assert set(history) == valid, "every valid certificate suspended, no other"
    assert all(len(causes) == 1 for causes in history.values()), "one suspension in each history"
    assert {cause for causes in history.values() for cause in causes} == {revocation.id}
    assert await suspended_count(up, valid) == len(valid)

    # The stream, read as a consumer that de-duplicates by ce_id: one event per certificate, none missing.
    distinct = {e.id: e for n in valid for e in observer.of(SUSPENDED, n)}
    per_certificate = {}
    for event in distinct.values():
        per_certificate.setdefault(event.key, []).append(event)
    assert set(per_certificate) == valid
    assert all(len(found) == 1 for found in per_certificate.values()), "one certificate.suspended per certificate"
    for event in distinct.values():
        observer.caused(event, chain, revocation)
        assert event.json()["reason"] == "issuing_body_revoked"
    copies = sum(observer.copies(SUSPENDED, n) for n in valid)
    figures.record(
        request.node.name, certificates=len(valid), kills=kills, faults_injected=len(kills),
        events_checked=len(distinct) + 1, records_on_wire=copies, wire_duplicates_deduplicated=copies - len(distinct),
        history_suspensions=sum(len(v) for v in history.values()), lost=len(valid - set(per_certificate)),
        duplicated_in_effect=sum(len(v) - 1 for v in history.values()), elapsed_s=round(elapsed, 1),
    )


async def _all_published(up, outbox) -> bool:  # noqa: ANN001
    return await unpublished(up, "certificates", outbox) == 0
