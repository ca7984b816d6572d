"""What each caller is shown of a round: the regulator everything; a lab only rounds it is
enrolled in (to any other lab a round does not exist), and before closing not the reference value."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from conformity_shared.auth import Principal, Role
from conformity_shared.errors import NotFound

from proficiency import db


def iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def is_regulator(principal: Principal) -> bool:
    return principal.role is Role.REGULATOR


async def round_row(session: Any, round_id: str) -> Any:
    row = (await session.execute(sa.select(db.rounds).where(db.rounds.c.id == round_id))).first()
    if row is None:
        raise NotFound(f"round {round_id} not found", field="round_id")
    return row


async def enrolled_labs(session: Any, round_id: str) -> list[str]:
    e = db.enrolments
    return list((await session.scalars(sa.select(e.c.lab_uscc).where(e.c.round_id == round_id).order_by(e.c.lab_uscc))).all())


async def visible_round(session: Any, principal: Principal, round_id: str) -> Any:
    """The round, if the caller may see it: the regulator always, a lab only when enrolled
    (to any other lab the round does not exist)."""
    row = await round_row(session, round_id)
    if not is_regulator(principal):
        e = db.enrolments
        enrolled = await session.scalar(
            sa.select(e.c.lab_uscc).where(e.c.round_id == round_id, e.c.lab_uscc == principal.org)
        )
        if enrolled is None:
            raise NotFound(f"round {round_id} not found", field="round_id")
    return row


def design_view(row: Any, reveal: bool) -> dict[str, Any]:
    """The round's design; before closing a lab sees only the methods, never the reference value."""
    if row.assigned_value_method == "reference" and reveal:
        assigned: dict[str, Any] = {
            "method": "reference", "value": row.reference_value,
            "expanded_uncertainty": row.reference_expanded_uncertainty,
            "coverage_factor": row.reference_coverage_factor,
        }
    else:
        assigned = {"method": row.assigned_value_method}
    sigma: dict[str, Any] = {"method": row.sigma_pt_method}
    if row.sigma_pt_method == "fixed":
        sigma["value"] = row.sigma_pt  # announced in advance (ISO 13528 8.1), so labs may know it
    return {"assigned_value": assigned, "sigma_pt": sigma}


def round_view(row: Any) -> dict[str, Any]:
    return {
        "id": row.id, "field": row.field, "measurand": row.measurand, "unit": row.unit,
        "deadline": row.deadline.isoformat(), "status": row.status, "created_at": row.created_at.isoformat(),
        "closed_at": iso(row.closed_at),
    }


def result_view(
    round_id: str, lab: str, value: float, u: float | None, k: float | None, at: dt.datetime, score: Any = None
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "round_id": round_id, "lab_uscc": lab, "value": value, "expanded_uncertainty": u, "coverage_factor": k,
        "submitted_at": at.isoformat(),
    }
    if score is not None:
        view["scores"] = scores_view(score)
    return view


def scores_view(score: Any) -> dict[str, Any]:
    return {
        "score_kind": score.score_kind, "score": score.score, "signal": score.signal,
        "zeta": score.zeta, "zeta_signal": score.zeta_signal, "en": score.en, "en_signal": score.en_signal,
    }
