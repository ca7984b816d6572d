"""One public: completed inspection results, readable by anyone without a token."""

from __future__ import annotations

import datetime as dt
from typing import Any

from conformity_shared.runtime import ServiceRuntime

from supervision import db

FINDINGS_SUMMARY_LENGTH = 300


async def published_results(
    runtime: ServiceRuntime,
    organisation: str | None,
    since: dt.date | None,
    until: dt.date | None,
    limit: int,
    offset: int,
) -> dict[str, Any]:
    """Completed results, latest first; inspections under way are not published.

    `since` and `until` are the regulator's business days (both included), and each result is
    dated on the regulator's calendar: a result recorded at 07:30 in Beijing is published on
    that Beijing day, though in UTC it is still the day before.
    """
    clock = runtime.clock
    start = clock.start_of(since) if since else None
    end = clock.start_of(until + dt.timedelta(days=1)) if until else None
    async with runtime.sessions() as session:
        rows = await db.completed_results(session, organisation, start, end, limit, offset)
    return {
        "items": [
            {"inspection_id": r.id, "target_uscc": r.target_uscc, "target_name": r.name, "target_kind": r.target_kind,
             "kind": r.kind, "date": clock.date_of(r.completed_at).isoformat(), "verdict": r.verdict,
             "findings_summary": (r.findings or "")[:FINDINGS_SUMMARY_LENGTH]}
            for r in rows
        ]
    }
