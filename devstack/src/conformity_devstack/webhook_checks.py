"""What the notifications tests on the real broker check of their receivers and of the service:
the changes a receiver accepted, that repeats were the same message, that every delivery is done."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlalchemy as sa

from conformity_operators.webhook_receiver import Receiver


def accepted_changes(receiver: Receiver) -> set[tuple[str, str]]:
    """(certificate number, new status) of every webhook the receiver accepted."""
    return {(r.json()["data"]["certificate_number"], r.json()["data"]["new_status"]) for r in receiver.accepted()}


def assert_none_lost_and_repeats_the_same(receiver: Receiver, expected: set[tuple[str, str]]) -> None:
    """Exactly the expected changes were accepted, and a repeat is the same message: one
    webhook-id per change however often sent, one body per webhook-id."""
    assert accepted_changes(receiver) == expected  # none lost, nothing unexpected
    ids_of: dict[tuple[str, str], set[str]] = defaultdict(set)
    bodies_of: dict[str, set[bytes]] = defaultdict(set)
    for receipt in receiver.receipts:
        data = receipt.json()["data"]
        ids_of[(data["certificate_number"], data["new_status"])].add(receipt.webhook_id)
        bodies_of[receipt.webhook_id].add(receipt.body)
    assert all(len(ids) == 1 for ids in ids_of.values())
    assert all(len(bodies) == 1 for bodies in bodies_of.values())


async def all_delivered(notes: Any, total: int) -> bool | None:
    """True once the notifications app behind the client `notes` has ``total`` deliveries
    delivered (None before, for `testing.eventually`)."""
    from notifications import db as notifications_db

    runtime = notes._transport.app.state.runtime
    deliveries = notifications_db.deliveries.c
    async with runtime.sessions() as session:
        done = await session.scalar(sa.select(sa.func.count()).where(deliveries.status == "delivered"))
    return done == total or None
