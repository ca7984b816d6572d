"""The published outcome of a closed round: JSON report and plot. The regulator sees every
lab's scores; a lab its own and the anonymised distribution, never another lab's identity."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import sqlalchemy as sa

from conformity_shared.auth import Principal
from conformity_shared.errors import Conflict
from conformity_shared.runtime import ServiceRuntime

from proficiency import db, domain, plot
from proficiency.domain import iso13528
from proficiency.service.views import design_view, enrolled_labs, is_regulator, result_view, round_view, visible_round


async def _closed_round(session: Any, principal: Principal, round_id: str) -> tuple[Any, list[Any]]:
    """A closed round the caller may see, with every lab's result and scores (by value)."""
    row = await visible_round(session, principal, round_id)
    if row.status != domain.RoundStatus.CLOSED:
        raise Conflict(
            f"round {round_id} is open until it is closed after {row.deadline.isoformat()}; its report comes then",
            field="status",
        )
    r, s = db.results, db.scores
    scored = (
        await session.execute(
            sa.select(r.c.lab_uscc, r.c.value, r.c.expanded_uncertainty, r.c.coverage_factor, r.c.submitted_at,
                      s.c.score_kind, s.c.score, s.c.signal, s.c.zeta, s.c.zeta_signal, s.c.en, s.c.en_signal)
            .join(s, sa.and_(s.c.round_id == r.c.round_id, s.c.lab_uscc == r.c.lab_uscc))
            .where(r.c.round_id == round_id)
            .order_by(r.c.value, r.c.lab_uscc)
        )
    ).all()
    return row, scored


async def round_report(runtime: ServiceRuntime, principal: Principal, round_id: str) -> dict[str, Any]:
    """The published outcome of a closed round: assigned value, its uncertainty, sigma_pt, the
    signal counts and the anonymised distribution; the regulator also sees every lab's scores,
    a lab its own."""
    async with runtime.sessions() as session:
        row, scored = await _closed_round(session, principal, round_id)
        enrolled = await enrolled_labs(session, round_id)
    evaluation = row.evaluation
    report: dict[str, Any] = {
        "round": {**round_view(row), "design": design_view(row, True)},
        "assigned_value": evaluation["assigned_value"],
        "standard_uncertainty": evaluation["standard_uncertainty"],
        "expanded_uncertainty": evaluation["expanded_uncertainty"],
        "sigma_pt": evaluation["sigma_pt"],
        "score_used": "z'" if evaluation["z_prime_used"] else "z",
        "robust_estimate": evaluation["robust_estimate"],
        "participants": len(scored),
        "enrolled_without_result": len(enrolled) - len(scored),
        "signals": {s.value: 0 for s in iso13528.Signal} | dict(Counter(x.signal for x in scored)),
        "acceptance_limits": {
            "acceptable": [evaluation["assigned_value"] - 2 * evaluation["sigma_pt"],
                           evaluation["assigned_value"] + 2 * evaluation["sigma_pt"]],
            "action": [evaluation["assigned_value"] - 3 * evaluation["sigma_pt"],
                       evaluation["assigned_value"] + 3 * evaluation["sigma_pt"]],
        },
        # Anonymised: values and signals, in value order, without who reported them.
        "distribution": [
            {"value": x.value, "score": x.score, "signal": x.signal}
            | ({} if is_regulator(principal) else {"yours": x.lab_uscc == principal.org})
            for x in scored
        ],
    }
    if is_regulator(principal):
        report["results"] = [
            result_view(round_id, x.lab_uscc, x.value, x.expanded_uncertainty, x.coverage_factor, x.submitted_at, x)
            for x in sorted(scored, key=lambda x: x.lab_uscc)
        ]
    else:
        own = next((x for x in scored if x.lab_uscc == principal.org), None)
        report["your_result"] = (
            result_view(round_id, own.lab_uscc, own.value, own.expanded_uncertainty, own.coverage_factor,
                         own.submitted_at, own)
            if own else None
        )
    return report


async def round_plot(runtime: ServiceRuntime, principal: Principal, round_id: str, fmt: plot.Format) -> bytes:
    """The report's plot (SVG or PNG); a lab's own result is marked, no one else's is named."""
    async with runtime.sessions() as session:
        row, scored = await _closed_round(session, principal, round_id)
    evaluation = row.evaluation
    points = [plot.PlotPoint(x.value, x.signal, own=x.lab_uscc == principal.org) for x in scored]
    # Rendering is CPU work of tens of milliseconds: off the event loop.
    return await asyncio.to_thread(
        plot.render,
        title=f"{row.field}: {row.measurand}, round {row.id[:8]}",
        unit=row.unit,
        assigned_value=evaluation["assigned_value"],
        sigma_pt=evaluation["sigma_pt"],
        points=points,
        score_kind="z'" if evaluation["z_prime_used"] else "z",
        fmt=fmt,
    )
