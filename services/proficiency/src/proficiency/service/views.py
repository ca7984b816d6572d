"""What each caller is shown: the regulator everything; a lab only the rounds it is enrolled in
(to any other lab a round does not exist), before closing not the reference value, after
closing its own scores and the anonymised distribution; of a blind sample only a sample to test."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from conformity_shared.auth import Principal, Role
from conformity_shared.errors import NotFound

from proficiency import db, domain


def iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def is_regulator(principal: Principal) -> bool:
    return principal.role is Role.REGULATOR


async def visible_round(session: AsyncSession, principal: Principal, round_id: str) -> Any:
    """The round, if the caller may see it: the regulator always, a lab only when enrolled
    (to any other lab the round does not exist)."""
    row = await db.round_row(session, round_id)
    if not is_regulator(principal) and not await db.is_enrolled(session, round_id, principal.org):
        raise NotFound(f"round {round_id} not found", field="round_id")
    return row


def is_closed(row: Any) -> bool:
    return domain.RoundStatus(row.status) is domain.RoundStatus.CLOSED


def is_cancelled(row: Any) -> bool:
    return domain.RoundStatus(row.status) is domain.RoundStatus.CANCELLED


# --- rounds --------------------------------------------------------------------------------


def design_view(row: Any, reveal: bool) -> dict[str, Any]:
    """The round's design; before closing a lab sees only the methods, never the reference value."""
    reference = domain.AssignedValueMethod(row.assigned_value_method) is domain.AssignedValueMethod.REFERENCE
    if reference and reveal:
        assigned: dict[str, Any] = {
            "method": row.assigned_value_method, "value": row.reference_value,
            "expanded_uncertainty": row.reference_expanded_uncertainty,
            "coverage_factor": row.reference_coverage_factor,
        }
    else:
        assigned = {"method": row.assigned_value_method}
    sigma: dict[str, Any] = {"method": row.sigma_pt_method}
    if domain.SigmaPtMethod(row.sigma_pt_method) is domain.SigmaPtMethod.FIXED:
        sigma["value"] = row.sigma_pt  # announced in advance (ISO 13528 8.1), so labs may know it
    return {"assigned_value": assigned, "sigma_pt": sigma, "algorithm_a_stopping": row.algorithm_a_stopping}


def round_view(row: Any) -> dict[str, Any]:
    view = {
        "id": row.id, "field": row.field, "measurand": row.measurand, "unit": row.unit,
        "deadline": row.deadline.isoformat(), "status": row.status, "created_at": row.created_at.isoformat(),
        "closed_at": iso(row.closed_at),
    }
    if is_cancelled(row):  # why the round has no scores, told to everyone who sees it
        view["cancellation"] = {
            "reason": row.cancellation_reason, "cancelled_by": row.cancelled_by, "at": iso(row.cancelled_at),
        }
    return view


def round_detail_view(
    row: Any, principal: Principal, submitted: set[str], enrolled: Sequence[str]
) -> dict[str, Any]:
    """One round: the regulator also sees who is enrolled and who has submitted; a lab whether it has."""
    view = {**round_view(row), "design": design_view(row, is_regulator(principal) or is_closed(row))}
    if is_regulator(principal):
        view["enrolled_labs"] = [{"lab_uscc": lab, "submitted": lab in submitted} for lab in enrolled]
        view["results_received"] = len(submitted)
    else:
        view["submitted"] = principal.org in submitted
    return view


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


# --- the closed round's report -------------------------------------------------------------


def score_used(evaluation: dict[str, Any]) -> domain.ScoreKind:
    return domain.ScoreKind.Z_PRIME if evaluation["z_prime_used"] else domain.ScoreKind.Z


def report_view(row: Any, scored: Sequence[Any], enrolled: int, principal: Principal) -> dict[str, Any]:
    """The published outcome of a closed round, then every lab's scores for the regulator, or
    the lab's own."""
    report = published_outcome(row, scored, enrolled)
    report["distribution"] = distribution_view(scored, principal)
    if is_regulator(principal):
        report["results"] = [scored_result_view(row.id, x) for x in sorted(scored, key=lambda x: x.lab_uscc)]
    else:
        own = next((x for x in scored if x.lab_uscc == principal.org), None)
        report["your_result"] = scored_result_view(row.id, own) if own else None
    return report


def published_outcome(row: Any, scored: Sequence[Any], enrolled: int) -> dict[str, Any]:
    """What every caller of the report sees: the assigned value, its uncertainty, sigma_pt, the
    signal counts and the acceptance limits."""
    evaluation = row.evaluation
    x_pt, sigma_pt = evaluation["assigned_value"], evaluation["sigma_pt"]
    return {
        "round": {**round_view(row), "design": design_view(row, True)},
        "assigned_value": x_pt,
        "standard_uncertainty": evaluation["standard_uncertainty"],
        "expanded_uncertainty": evaluation["expanded_uncertainty"],
        "sigma_pt": sigma_pt,
        "score_used": score_used(evaluation).value,
        "obtained": obtained_view(row),
        "closing_decision": row.closing_decision,
        "robust_estimate": robust_estimate_view(row),
        "participants": len(scored),
        "enrolled_without_result": enrolled - len(scored),
        "signals": {s.value: 0 for s in domain.Signal} | dict(Counter(x.signal for x in scored)),
        "acceptance_limits": {
            domain.Signal.ACCEPTABLE.value: [x_pt - 2 * sigma_pt, x_pt + 2 * sigma_pt],
            domain.Signal.ACTION.value: [x_pt - 3 * sigma_pt, x_pt + 3 * sigma_pt],
        },
    }


def robust_estimate_view(row: Any) -> dict[str, Any] | None:
    """x*, s*, iterations, p and the stopping rule Algorithm A ran by (None without Algorithm A);
    rounds closed before the rule was recorded with the estimate take the round's own."""
    robust = row.evaluation["robust_estimate"]
    return None if robust is None else {"stopping": row.algorithm_a_stopping, **robust}


STOPPING_STATEMENTS = {
    domain.AlgorithmAStopping.THIRD_SIGNIFICANT_FIGURE: (
        "stopped when s* and x* no longer changed at s*'s third significant figure (ISO 13528:2015 C.3.1)"
    ),
    domain.AlgorithmAStopping.FULL_CONVERGENCE: "iterated to full convergence",
}


def obtained_view(row: Any) -> dict[str, Any]:
    """How the closed round's x_pt and sigma_pt were obtained: the methods used, and which of
    them the regulator chose at closing (rounds closed before this was recorded: the design)."""
    evaluation, decision = row.evaluation, row.closing_decision
    return {
        "assigned_value": evaluation.get("assigned_value_method", row.assigned_value_method),
        "sigma_pt": evaluation.get("sigma_pt_method", row.sigma_pt_method),
        "chosen_at_closing": [part for part in ("assigned_value", "sigma_pt") if decision and decision[part]],
    }


def method_statement(row: Any) -> str:
    """How the closed round's x_pt and sigma_pt were obtained, in words (the plot's caption)."""
    obtained, robust = obtained_view(row), robust_estimate_view(row)
    chosen = obtained["chosen_at_closing"]
    words = {
        "assigned_value": {domain.AssignedValueMethod.REFERENCE: "the reference value",
                           domain.AssignedValueMethod.CONSENSUS: "x* of Algorithm A"},
        "sigma_pt": {domain.SigmaPtMethod.FIXED: "fixed", domain.SigmaPtMethod.ROBUST: "s* of Algorithm A"},
    }
    parts = [
        f"{symbol}: {words[part][obtained[part]]}{' chosen at closing' if part in chosen else ''}"
        for part, symbol in (("assigned_value", "x_pt"), ("sigma_pt", "sigma_pt"))
    ]
    sentences = ["; ".join(parts) + "."]
    if robust is not None:
        stopping = STOPPING_STATEMENTS[domain.AlgorithmAStopping(robust["stopping"])]
        sentences.append(
            f"x* and s* by ISO 13528 Algorithm A over {robust['p']} results, {stopping}, "
            f"after {robust['iterations']} iterations."
        )
    if row.closing_decision:
        sentences.append(f"Chosen by {row.closing_decision['decided_by']}: {row.closing_decision['reason']}")
    return " ".join(sentences)


def distribution_view(scored: Sequence[Any], principal: Principal) -> list[dict[str, Any]]:
    """Anonymised: values and signals, in value order, without who reported them."""
    return [
        {"value": x.value, "score": x.score, "signal": x.signal}
        | ({} if is_regulator(principal) else {"yours": x.lab_uscc == principal.org})
        for x in scored
    ]


def scored_result_view(round_id: str, x: Any) -> dict[str, Any]:
    return result_view(round_id, x.lab_uscc, x.value, x.expanded_uncertainty, x.coverage_factor, x.submitted_at, x)


# --- blind samples ---------------------------------------------------------------------------


def regulator_sample_view(row: Any) -> dict[str, Any]:
    """Everything about a blind sample, its known value, tolerance and verdict included."""
    return {
        "id": row.id, "field": row.field, "lab_uscc": row.lab_uscc, "measurand": row.measurand, "unit": row.unit,
        "description": row.description, "known_value": row.known_value, "tolerance": row.tolerance,
        "registered_at": row.registered_at.isoformat(), "status": row.status,
        "reported_value": row.reported_value, "reported_expanded_uncertainty": row.reported_expanded_uncertainty,
        "reported_coverage_factor": row.reported_coverage_factor, "reported_at": iso(row.reported_at),
        "deviation": row.deviation, "passed": row.passed,
    }


def lab_sample_view(row: Any) -> dict[str, Any]:
    """What the lab is told: a sample to test, as any other. Not the known value, not the
    tolerance, not that it is a check, not the verdict."""
    return {
        "id": row.id, "field": row.field, "measurand": row.measurand, "unit": row.unit,
        "description": row.description, "assigned_at": row.registered_at.isoformat(), "status": row.status,
        "reported_value": row.reported_value, "reported_at": iso(row.reported_at),
    }


# --- a lab's outcomes ------------------------------------------------------------------------


def lab_outcomes_view(lab: str, outcomes: Sequence[Any], suspensions: Sequence[Any]) -> dict[str, Any]:
    return {
        "lab_uscc": lab,
        "outcomes": [
            {"field": r.field, "kind": r.kind, "reference_id": r.reference_id, "signal": r.signal,
             "passed": r.passed, "failure": r.failure, "at": r.at.isoformat(), "settled_by": r.settled_by}
            for r in outcomes
        ],
        "suspensions_required": [
            {"id": r.id, "field": r.field, "rule": r.rule, "evidence": r.evidence, "at": r.at.isoformat()}
            for r in suspensions
        ],
    }
