"""The published outcome of a closed round: JSON report and plot. The regulator sees every
lab's scores; a lab its own and the anonymised distribution, never another lab's identity."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from conformity_shared.auth import Principal
from conformity_shared.runtime import ServiceRuntime

from proficiency import db, domain, plot
from proficiency.service import views


async def closed_round(session: AsyncSession, principal: Principal, round_id: str) -> tuple[Any, Sequence[Any]]:
    """A closed round the caller may see, with every lab's result and scores (by value); the
    report of an open round is not published yet."""
    row = await views.visible_round(session, principal, round_id)
    if views.is_cancelled(row):
        raise domain.CancelledRoundHasNoReport(round_id, row.cancellation_reason)
    if not views.is_closed(row):
        raise domain.ReportNotPublished(round_id, row.deadline)
    return row, await db.scored_results(session, round_id)


async def round_report(runtime: ServiceRuntime, principal: Principal, round_id: str) -> dict[str, Any]:
    """The published outcome of a closed round: assigned value, its uncertainty, sigma_pt, the
    signal counts and the anonymised distribution; the regulator also sees every lab's scores,
    a lab its own."""
    async with runtime.sessions() as session:
        row, scored = await closed_round(session, principal, round_id)
        enrolled = await db.enrolled_labs(session, round_id)
    return views.report_view(row, scored, len(enrolled), principal)


async def round_plot(runtime: ServiceRuntime, principal: Principal, round_id: str, fmt: plot.Format) -> bytes:
    """The report's plot (SVG or PNG); a lab's own result is marked, no one else's is named."""
    async with runtime.sessions() as session:
        row, scored = await closed_round(session, principal, round_id)
    evaluation = row.evaluation
    points = [plot.PlotPoint(x.value, domain.Signal(x.signal), own=x.lab_uscc == principal.org) for x in scored]
    # Rendering is CPU work of tens of milliseconds: off the event loop.
    return await asyncio.to_thread(
        plot.render,
        title=f"{row.field}: {row.measurand}, round {row.id[:8]}",
        unit=row.unit,
        assigned_value=evaluation["assigned_value"],
        sigma_pt=evaluation["sigma_pt"],
        points=points,
        score_kind=views.score_used(evaluation).value,
        caption=views.method_statement(row),
        fmt=fmt,
    )
