"""Reading certificates: one with its history (its body or the regulator), lists, and public
verification of one number or a batch."""

from __future__ import annotations

from typing import Any

from conformity_shared.auth import Principal, Role
from conformity_shared.errors import DomainError, NotFound
from conformity_shared.runtime import ServiceRuntime

from certificates import db, domain
from certificates.public_read import summary as _summary

MAX_VERIFY_BATCH = 1000  # numbers per public batch verification (DESIGN: at least 1,000)
UNKNOWN = "unknown"  # the public answer for a number not in the register


def _history_entry(h: Any) -> dict[str, Any]:
    return {"from": h.from_status, "to": h.to_status, "reason": h.reason, "actor": h.actor,
            "cause_event_id": h.cause_event_id, "at": h.at.isoformat(), "note": h.note}


async def get_certificate(runtime: ServiceRuntime, principal: Principal, number: str) -> dict[str, Any]:
    """One certificate with its full history, for its issuing body or the regulator."""
    async with runtime.sessions() as session:
        row = await db.certificate_row(session, number)
        if row is None:
            raise NotFound(f"certificate {number} not found", field="number")
        domain.may_see_history(number, row.issuing_body_uscc, regulator=principal.role is Role.REGULATOR,
                               org=principal.org)
        entries = await db.history_of(session, number)
    return {**_summary(row), "history": [_history_entry(h) for h in entries]}


async def list_certificates(
    runtime: ServiceRuntime, principal: Principal, status: str | None, holder_uscc: str | None, limit: int, offset: int
) -> dict[str, Any]:
    """A page of certificates: a body sees those it issued, the regulator all."""
    async with runtime.sessions() as session:
        rows = await db.certificate_rows(
            session, every_body=principal.role is Role.REGULATOR, issued_by=principal.org, status=status,
            holder_uscc=holder_uscc, limit=limit, offset=offset,
        )
    return {"items": [_summary(r) for r in rows], "limit": limit, "offset": offset}


def _normalised(number: str) -> str:
    return number.strip().upper()


async def verify(runtime: ServiceRuntime, number: str) -> dict[str, Any]:
    """Public status of one certificate: one primary-key lookup, flat from thousands to millions."""
    number = _normalised(number)
    answer = await runtime.context.reader.one(number)  # public_read.PublicReader: no session per request
    if answer is None:
        raise NotFound(f"no certificate numbered {number}", field="number")
    return answer


async def verify_many(runtime: ServiceRuntime, numbers: list[str]) -> dict[str, Any]:
    """Public status of up to MAX_VERIFY_BATCH certificates in one primary-key IN query; numbers
    not in the register are answered as ``unknown``, in the order asked (duplicates once)."""
    if len(numbers) > MAX_VERIFY_BATCH:
        raise DomainError(
            f"at most {MAX_VERIFY_BATCH} numbers per request, {len(numbers)} given", field="numbers"
        )
    wanted = list(dict.fromkeys(_normalised(n) for n in numbers))
    found = await runtime.context.reader.many(wanted)
    results = [found.get(n, {"number": n, "status": UNKNOWN}) for n in wanted]
    return {"count": len(results), "unknown": len(results) - len(found), "results": results}

