"""Proficiency's use cases against a real SQLite database, with no broker: a round from
creation to scores, the refused submissions, who sees what, blind samples, and the events
a lab failure leads to (asserted as rows in the outbox, which is what the relay publishes).

Kafka points at an unreachable address, so a use case that touched the broker would fail.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import pytest
import sqlalchemy as sa

from conformity_devstack.factories import REGULATOR, blind_sample, lab, new_uscc, proficiency_round, reference_design
from conformity_shared import events
from conformity_shared.auth import Principal
from conformity_shared.clock import FixedClock
from conformity_shared.errors import Conflict, DomainError, NotFound
from conformity_shared.runtime import ServiceRuntime

from proficiency import commands, db, domain, service
from proficiency.domain import iso13528

FIELD = "TL-FOOD"
LAB_FAILED = events.LabFailureV1.ce_type
SUSPENSION_REQUIRED = events.LabFieldSuspensionRequiredV1.ce_type


@pytest.fixture(autouse=True)
def clock(runtime: ServiceRuntime) -> FixedClock:
    """The service's clock stands still; a test moves it with `move_clock`."""
    runtime.clock = FixedClock(instant=dt.datetime.now(dt.UTC))
    return runtime.clock


def now(runtime: ServiceRuntime) -> dt.datetime:
    return runtime.clock.now()


def move_clock(runtime: ServiceRuntime, instant: dt.datetime) -> None:
    runtime.clock = FixedClock(runtime.clock.zone, instant)


async def new_round(runtime: ServiceRuntime, labs: list[str], design: dict[str, Any] | None = None) -> dict[str, Any]:
    deadline = now(runtime) + dt.timedelta(hours=1)
    request = commands.CreateRound.model_validate(proficiency_round(labs, deadline, field=FIELD, design=design))
    return await service.create_round(runtime, REGULATOR, request)


def after(round_: dict[str, Any]) -> dt.datetime:
    return dt.datetime.fromisoformat(round_["deadline"]) + dt.timedelta(seconds=1)


def result(round_id: str, value: float, **measured: Any) -> commands.SubmitResult:
    """The command to submit `value` (and U, k, or the lab it names) to a round."""
    named = measured.pop("lab_uscc", None)
    # Built without validation, so that the use case's own refusals are what is tested.
    measurement = commands.Measurement.model_construct(
        value=value, expanded_uncertainty=measured.get("expanded_uncertainty"),
        coverage_factor=measured.get("coverage_factor"),
    )
    return commands.SubmitResult(round_id=round_id, measurement=measurement, lab_uscc=named)


async def submit(runtime: ServiceRuntime, principal: Principal, round_id: str, value: float, **measured: Any) -> dict[str, Any]:
    return await service.submit_result(runtime, principal, result(round_id, value, **measured))


async def close_after_deadline(runtime: ServiceRuntime, round_: dict[str, Any]) -> dict[str, Any]:
    move_clock(runtime, after(round_))
    return await service.close_round(runtime, REGULATOR, round_["id"])


async def run_round(runtime: ServiceRuntime, results: dict[str, float]) -> dict[str, Any]:
    """A reference-value round in FIELD with these results, closed after its deadline."""
    round_ = await new_round(runtime, list(results))
    for org, value in results.items():
        await submit(runtime, lab(org), round_["id"], value)
    return await close_after_deadline(runtime, round_)


CONSEQUENCES = (LAB_FAILED, SUSPENSION_REQUIRED)


async def outbox(runtime: ServiceRuntime, types: tuple[str, ...] = CONSEQUENCES) -> list[tuple[str, str, dict[str, Any]]]:
    """(ce type, key, body) of the committed events of `types` (the consequences), in order."""
    async with runtime.sessions() as session:
        rows = (
            await session.execute(
                sa.select(db.outbox.c.event_type, db.outbox.c.key, db.outbox.c.payload)
                .where(db.outbox.c.event_type.in_(types))
                .order_by(db.outbox.c.seq)
            )
        ).all()
    return [(r.event_type, r.key, json.loads(r.payload)) for r in rows]


# --- a round from creation to scores ------------------------------------------------------------


async def test_closing_publishes_the_round_and_one_score_event_per_lab(runtime: ServiceRuntime, labs: list[str]) -> None:
    await run_round(runtime, dict(zip(labs[:4], (10.0, 10.2, 9.9, 11.5), strict=True)))
    emitted = await outbox(runtime, (events.RoundClosedV1.ce_type, events.LabScoredV1.ce_type))
    assert [t for t, _, _ in emitted] == [events.RoundClosedV1.ce_type] + [events.LabScoredV1.ce_type] * 4
    assert sorted(key for t, key, _ in emitted[1:]) == sorted(labs[:4])
    assert {body["signal"] for _, _, body in emitted[1:]} <= {"acceptable", "warning", "action"}


async def test_full_round_scores_every_lab_against_the_reference_value(runtime: ServiceRuntime, labs: list[str]) -> None:
    values = dict(zip(labs, [10.1, 9.8, 11.2, 11.6, 10.0]))
    report = await run_round(runtime, values)

    assert report["round"]["status"] == "closed"
    assert report["assigned_value"] == 10.0
    assert report["standard_uncertainty"] == pytest.approx(0.05)
    assert report["expanded_uncertainty"] == pytest.approx(0.1)
    assert report["sigma_pt"] == 0.5
    assert report["score_used"] == "z"
    assert report["participants"] == 5
    assert report["signals"] == {"acceptable": 3, "warning": 1, "action": 1}
    assert report["acceptance_limits"] == {"acceptable": [9.0, 11.0], "action": [8.5, 11.5]}
    by_lab = {r["lab_uscc"]: r["scores"] for r in report["results"]}
    for org, value in values.items():
        assert by_lab[org]["score"] == pytest.approx((value - 10.0) / 0.5)
        assert by_lab[org]["score_kind"] == "z"
    assert by_lab[labs[2]]["signal"] == "warning"
    assert by_lab[labs[3]]["signal"] == "action"
    assert [d["value"] for d in report["distribution"]] == sorted(values.values())


async def test_consensus_round_takes_algorithm_a_and_its_uncertainty(runtime: ServiceRuntime, labs: list[str]) -> None:
    design = {"assigned_value": {"method": "consensus"}, "sigma_pt": {"method": "robust"}}
    values = [10.1, 9.8, 10.4, 12.9, 10.0]
    round_ = await new_round(runtime, labs, design)
    for org, value in zip(labs, values):
        await submit(runtime, lab(org), round_["id"], value, expanded_uncertainty=0.4, coverage_factor=2)
    report = await close_after_deadline(runtime, round_)

    robust = iso13528.algorithm_a(values)
    assert report["assigned_value"] == robust.x_star
    assert report["sigma_pt"] == robust.s_star
    assert report["standard_uncertainty"] == pytest.approx(1.25 * robust.s_star / math.sqrt(5))
    assert report["robust_estimate"]["p"] == 5
    # u(x_pt) is not below 0.3 sigma_pt with five labs (1.25/sqrt(5) = 0.56): z' replaces z.
    assert report["score_used"] == "z'"
    scores = report["results"][0]["scores"]
    assert scores["score_kind"] == "z'" and scores["zeta"] is not None and scores["en"] is not None


NINE_RESULTS = [34, 24, 25, 30, 22, 35, 16, 13, 5]  # test_iso13528: the standard's rule stops after 2 iterations
ROBUST = {"assigned_value": {"method": "consensus"}, "sigma_pt": {"method": "robust"}}


async def closed_robust_round(runtime: ServiceRuntime, design: dict[str, Any]) -> dict[str, Any]:
    orgs = [new_uscc() for _ in NINE_RESULTS]
    round_ = await new_round(runtime, orgs, design)
    for org, value in zip(orgs, NINE_RESULTS):
        await submit(runtime, lab(org), round_["id"], value)
    return await close_after_deadline(runtime, round_)


async def test_robust_round_stops_algorithm_a_by_the_standards_rule_and_says_so(runtime: ServiceRuntime) -> None:
    report = await closed_robust_round(runtime, ROBUST)

    assert report["round"]["design"]["algorithm_a_stopping"] == "third_significant_figure"
    assert report["robust_estimate"]["stopping"] == "third_significant_figure"
    assert report["robust_estimate"]["iterations"] == 2
    assert (report["assigned_value"], report["sigma_pt"]) == pytest.approx((22.8136, 10.9567), abs=5e-5)
    plot = await service.round_plot(runtime, REGULATOR, report["round"]["id"], "svg")
    assert b"stopped when s* and x* no longer changed at s*'s third significant figure" in plot


async def test_round_may_choose_full_convergence_and_its_report_says_so(runtime: ServiceRuntime) -> None:
    report = await closed_robust_round(runtime, {**ROBUST, "algorithm_a_stopping": "full_convergence"})

    assert report["round"]["design"]["algorithm_a_stopping"] == "full_convergence"
    assert report["robust_estimate"]["stopping"] == "full_convergence"
    assert (report["assigned_value"], report["sigma_pt"]) == pytest.approx((22.8255, 10.9309), abs=5e-5)
    assert (await service.get_round(runtime, REGULATOR, report["round"]["id"]))["design"]["algorithm_a_stopping"] == (
        "full_convergence"
    )
    plot = await service.round_plot(runtime, REGULATOR, report["round"]["id"], "png")
    assert b"iterated to full convergence" in plot


async def test_consensus_round_with_too_few_results_is_not_evaluated(runtime: ServiceRuntime, labs: list[str]) -> None:
    design = {"assigned_value": {"method": "consensus"}, "sigma_pt": {"method": "fixed", "value": 0.5}}
    round_ = await new_round(runtime, labs, design)
    await submit(runtime, lab(labs[0]), round_["id"], 10.0)
    with pytest.raises(DomainError) as refused:
        await close_after_deadline(runtime, round_)
    assert refused.value.field == "results" and "at least 3" in refused.value.message
    assert (await service.get_round(runtime, REGULATOR, round_["id"]))["status"] == "open"


async def test_round_whose_scores_would_overflow_is_refused_not_scored_infinite(runtime: ServiceRuntime, labs: list[str]) -> None:
    design = {"assigned_value": {"method": "reference", "value": 1e308, "expanded_uncertainty": 0.1, "coverage_factor": 2},
              "sigma_pt": {"method": "fixed", "value": 0.5}}
    round_ = await new_round(runtime, labs[:1], design)
    await submit(runtime, lab(labs[0]), round_["id"], -1e308)
    with pytest.raises(DomainError) as refused:
        await close_after_deadline(runtime, round_)
    assert refused.value.status_code == 422 and refused.value.field == "results"
    assert "x and x_pt are too far apart" in refused.value.message
    assert (await service.get_round(runtime, REGULATOR, round_["id"]))["status"] == "open"
    assert await outbox(runtime, (events.RoundClosedV1.ce_type, events.LabScoredV1.ce_type)) == []


async def test_round_with_a_deadline_in_the_past_is_refused(runtime: ServiceRuntime) -> None:
    request = {
        "field": FIELD, "measurand": "lead", "unit": "mg/kg",
        "deadline": now(runtime) - dt.timedelta(minutes=1), **reference_design(),
    }
    with pytest.raises(DomainError) as refused:
        await service.create_round(runtime, REGULATOR, commands.CreateRound.model_validate(request))
    assert refused.value.field == "deadline"


async def test_round_is_not_closed_before_its_deadline_nor_twice(runtime: ServiceRuntime, labs: list[str]) -> None:
    round_ = await new_round(runtime, labs)
    with pytest.raises(Conflict) as early:
        await service.close_round(runtime, REGULATOR, round_["id"])
    assert early.value.field == "deadline"
    assert "closed only once its deadline has passed" in early.value.rules[0]["rule"]

    await close_after_deadline(runtime, round_)
    with pytest.raises(Conflict) as twice:
        await close_after_deadline(runtime, round_)
    assert twice.value.field == "status"


async def test_enrolling_twice_is_harmless_and_closed_rounds_take_no_labs(runtime: ServiceRuntime, labs: list[str]) -> None:
    round_ = await new_round(runtime, labs[:2])
    enrolled = await service.enrol(runtime, REGULATOR, commands.EnrolLabs(round_id=round_["id"], labs=labs[1:3]))
    assert enrolled["newly_enrolled"] == [labs[2]]
    assert {e["lab_uscc"] for e in enrolled["enrolled_labs"]} == set(labs[:3])
    await close_after_deadline(runtime, round_)
    with pytest.raises(Conflict):
        await service.enrol(runtime, REGULATOR, commands.EnrolLabs(round_id=round_["id"], labs=[labs[4]]))


# --- refused submissions ----------------------------------------------------------------------


async def test_late_submission_is_refused(runtime: ServiceRuntime, labs: list[str]) -> None:
    round_ = await new_round(runtime, labs)
    with pytest.raises(DomainError) as refused:
        move_clock(runtime, after(round_))
        await submit(runtime, lab(labs[0]), round_["id"], 10.0)
    assert refused.value.status_code == 409
    assert refused.value.field == "deadline"
    assert refused.value.rules[0]["rule"] == "a round accepts results only until its deadline"


async def test_a_result_on_the_deadline_is_on_time(runtime: ServiceRuntime, labs: list[str]) -> None:
    round_ = await new_round(runtime, labs)
    on_time = dt.datetime.fromisoformat(round_["deadline"])
    move_clock(runtime, on_time)
    accepted = await submit(runtime, lab(labs[0]), round_["id"], 10.0)
    assert accepted["value"] == 10.0


async def test_duplicate_submission_is_refused(runtime: ServiceRuntime, labs: list[str]) -> None:
    round_ = await new_round(runtime, labs)
    await submit(runtime, lab(labs[0]), round_["id"], 10.0)
    with pytest.raises(DomainError) as refused:
        await submit(runtime, lab(labs[0]), round_["id"], 10.2)
    assert refused.value.status_code == 409
    assert refused.value.field == "lab_uscc"
    assert refused.value.rules[0]["rule"] == "a round takes one result per enrolled lab"
    assert (await service.get_result(runtime, lab(labs[0]), round_["id"], labs[0]))["value"] == 10.0


async def test_lab_not_enrolled_cannot_submit(runtime: ServiceRuntime, labs: list[str]) -> None:
    round_ = await new_round(runtime, labs[:3])
    with pytest.raises(DomainError) as refused:
        await submit(runtime, lab(labs[4]), round_["id"], 10.0)
    assert refused.value.status_code == 403
    assert refused.value.rules[0]["rule"] == "only labs enrolled in a round may submit results to it"


async def test_lab_cannot_submit_for_another_lab(runtime: ServiceRuntime, labs: list[str]) -> None:
    round_ = await new_round(runtime, labs)
    with pytest.raises(DomainError) as refused:
        await submit(runtime, lab(labs[0]), round_["id"], 10.0, lab_uscc=labs[1])
    assert refused.value.status_code == 403 and refused.value.field == "lab_uscc"
    with pytest.raises(NotFound):
        await service.get_result(runtime, REGULATOR, round_["id"], labs[1])


async def test_uncertainty_without_coverage_factor_is_refused(runtime: ServiceRuntime, labs: list[str]) -> None:
    round_ = await new_round(runtime, labs)
    with pytest.raises(DomainError) as refused:
        await submit(runtime, lab(labs[0]), round_["id"], 10.0, expanded_uncertainty=0.2)
    assert refused.value.field == "coverage_factor"


# --- who sees what --------------------------------------------------------------------------


async def test_lab_cannot_read_another_labs_result(runtime: ServiceRuntime, labs: list[str]) -> None:
    round_ = await new_round(runtime, labs)
    await submit(runtime, lab(labs[0]), round_["id"], 10.0)
    await submit(runtime, lab(labs[1]), round_["id"], 10.3)

    with pytest.raises(NotFound) as hidden:
        await service.get_result(runtime, lab(labs[1]), round_["id"], labs[0])
    with pytest.raises(NotFound) as absent:
        await service.get_result(runtime, lab(labs[1]), round_["id"], labs[2])
    assert hidden.value.message.replace(labs[0], "X") == absent.value.message.replace(labs[2], "X")
    assert (await service.get_result(runtime, lab(labs[1]), round_["id"], labs[1]))["value"] == 10.3
    assert (await service.get_result(runtime, REGULATOR, round_["id"], labs[0]))["value"] == 10.0


async def test_round_does_not_exist_for_a_lab_not_enrolled(runtime: ServiceRuntime, labs: list[str]) -> None:
    round_ = await new_round(runtime, labs[:3])
    outsider = lab(labs[4])
    with pytest.raises(NotFound):
        await service.get_round(runtime, outsider, round_["id"])
    assert (await service.list_rounds(runtime, outsider, None, None, 100, 0))["items"] == []
    assert [r["id"] for r in (await service.list_rounds(runtime, lab(labs[0]), None, None, 100, 0))["items"]] == [round_["id"]]


async def test_reference_value_is_hidden_from_labs_until_the_round_closes(runtime: ServiceRuntime, labs: list[str]) -> None:
    round_ = await new_round(runtime, labs)
    seen_by_lab = await service.get_round(runtime, lab(labs[0]), round_["id"])
    assert seen_by_lab["design"]["assigned_value"] == {"method": "reference"}
    assert seen_by_lab["design"]["sigma_pt"] == {"method": "fixed", "value": 0.5}
    assert "enrolled_labs" not in seen_by_lab
    seen_by_regulator = await service.get_round(runtime, REGULATOR, round_["id"])
    assert seen_by_regulator["design"]["assigned_value"]["value"] == 10.0


async def test_lab_sees_its_own_scores_and_the_anonymised_distribution(runtime: ServiceRuntime, labs: list[str]) -> None:
    values = dict(zip(labs, [10.1, 9.8, 11.2, 11.6, 10.0]))
    closed = await run_round(runtime, values)
    report = await service.round_report(runtime, lab(labs[3]), closed["round"]["id"])

    assert report["your_result"]["lab_uscc"] == labs[3]
    assert report["your_result"]["scores"]["signal"] == "action"
    assert "results" not in report
    assert [d["value"] for d in report["distribution"]] == sorted(values.values())
    assert [d["yours"] for d in report["distribution"]].count(True) == 1
    text = json.dumps(report)
    for other in labs[:3] + labs[4:]:
        assert other not in text
    with pytest.raises(NotFound):
        await service.round_report(runtime, lab(new_uscc()), closed["round"]["id"])


async def test_report_waits_for_the_round_to_close(runtime: ServiceRuntime, labs: list[str]) -> None:
    round_ = await new_round(runtime, labs)
    with pytest.raises(Conflict):
        await service.round_report(runtime, REGULATOR, round_["id"])


async def test_plot_is_rendered_as_svg_and_png(runtime: ServiceRuntime, labs: list[str]) -> None:
    closed = await run_round(runtime, dict(zip(labs, [10.1, 9.8, 11.2, 11.6, 10.0])))
    svg = await service.round_plot(runtime, lab(labs[0]), closed["round"]["id"], "svg")
    png = await service.round_plot(runtime, REGULATOR, closed["round"]["id"], "png")
    assert svg.lstrip().startswith(b"<?xml") and b"<svg" in svg
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    for other in labs:
        assert other.encode() not in svg


# --- consequences: events in the outbox -----------------------------------------------------------


async def test_action_signal_emits_a_lab_failure(runtime: ServiceRuntime, labs: list[str]) -> None:
    closed = await run_round(runtime, dict(zip(labs, [10.1, 9.8, 11.2, 11.6, 10.0])))

    emitted = await outbox(runtime)
    assert [(t, key) for t, key, _ in emitted] == [(LAB_FAILED, labs[3])]
    body = emitted[0][2]
    assert body["field"] == FIELD and body["failure"] == "action_signal"
    assert body["reference_id"] == closed["round"]["id"]
    assert "z = 3.20" in body["detail"]


async def test_second_action_signal_in_a_row_requires_suspending_the_field(runtime: ServiceRuntime, labs: list[str]) -> None:
    first = await run_round(runtime, dict(zip(labs, [10.1, 9.8, 10.2, 11.6, 10.0])))
    second = await run_round(runtime, dict(zip(labs, [10.0, 9.9, 10.1, 8.2, 10.2])))

    emitted = await outbox(runtime)
    assert [(t, key) for t, key, _ in emitted] == [
        (LAB_FAILED, labs[3]), (LAB_FAILED, labs[3]), (SUSPENSION_REQUIRED, labs[3]),
    ]
    suspension = emitted[-1][2]
    assert suspension["field"] == FIELD
    assert suspension["reference_ids"] == [first["round"]["id"], second["round"]["id"]]
    assert "two action signals in a row" in suspension["reason"]
    events.LabFieldSuspensionRequiredV1.model_validate(suspension)  # the published contract

    history = await service.lab_outcomes(runtime, REGULATOR, labs[3])
    assert [s["rule"] for s in history["suspensions_required"]] == ["two action signals in a row in the same field"]
    # The lab reads its own, the suspension's evidence included; another lab's answers "not found".
    own = await service.lab_outcomes(runtime, lab(labs[3]), labs[3])
    assert own["suspensions_required"][0]["evidence"] == [first["round"]["id"], second["round"]["id"]]
    assert [o["signal"] for o in own["outcomes"]] == ["action", "action"]
    with pytest.raises(NotFound):
        await service.lab_outcomes(runtime, lab(labs[0]), labs[3])


async def test_an_acceptable_round_between_action_signals_breaks_the_run(runtime: ServiceRuntime, labs: list[str]) -> None:
    await run_round(runtime, dict(zip(labs, [10.1, 9.8, 10.2, 11.6, 10.0])))
    await run_round(runtime, dict(zip(labs, [10.1, 9.8, 10.2, 10.3, 10.0])))
    await run_round(runtime, dict(zip(labs, [10.1, 9.8, 10.2, 11.6, 10.0])))

    assert [t for t, _, _ in await outbox(runtime)] == [LAB_FAILED, LAB_FAILED]


async def test_one_run_of_action_signals_suspends_the_field_once(runtime: ServiceRuntime, labs: list[str]) -> None:
    for _ in range(3):
        await run_round(runtime, dict(zip(labs, [10.1, 9.8, 10.2, 11.6, 10.0])))

    # The third action signal starts a new run: a failure, not a second suspension.
    assert [t for t, _, _ in await outbox(runtime)] == [LAB_FAILED, LAB_FAILED, SUSPENSION_REQUIRED, LAB_FAILED]


async def test_action_signals_in_different_fields_do_not_add_up(runtime: ServiceRuntime, labs: list[str]) -> None:
    await run_round(runtime, dict(zip(labs, [10.1, 9.8, 10.2, 11.6, 10.0])))
    other_field = {**reference_design(), "field": "TL-CHEM", "measurand": "phthalates", "unit": "mg/kg",
                   "deadline": now(runtime) + dt.timedelta(hours=1), "labs": labs}
    round_ = await service.create_round(runtime, REGULATOR, commands.CreateRound.model_validate(other_field))
    for org, value in zip(labs, [10.1, 9.8, 10.2, 11.6, 10.0]):
        await submit(runtime, lab(org), round_["id"], value)
    await close_after_deadline(runtime, round_)

    assert [t for t, _, _ in await outbox(runtime)] == [LAB_FAILED, LAB_FAILED]


# --- blind samples ---------------------------------------------------------------------------


async def register_sample(runtime: ServiceRuntime, org: str) -> dict[str, Any]:
    registration = commands.RegisterBlindSample.model_validate(blind_sample(org, field=FIELD))
    return await service.register_blind_sample(runtime, REGULATOR, registration)


def report(sample_id: str, value: float) -> commands.ReportSample:
    return commands.ReportSample(sample_id=sample_id, measurement=commands.Measurement(value=value))


async def test_blind_sample_within_tolerance_passes_and_stays_hidden(runtime: ServiceRuntime, labs: list[str]) -> None:
    sample = await register_sample(runtime, labs[0])
    assigned = await service.samples_for_lab(runtime, lab(labs[0]))
    assert [s["id"] for s in assigned["items"]] == [sample["id"]]
    for hidden in ("known_value", "tolerance", "passed", "deviation"):
        assert hidden not in assigned["items"][0]

    reported = await service.report_sample(runtime, lab(labs[0]), report(sample["id"], 0.23))
    assert reported["status"] == "reported" and "passed" not in reported
    verdict = await service.get_blind_sample(runtime, sample["id"])
    assert verdict["passed"] is True and verdict["deviation"] == pytest.approx(0.03)
    assert await outbox(runtime) == []


async def test_failed_blind_sample_is_a_failure_that_requires_suspension(runtime: ServiceRuntime, labs: list[str]) -> None:
    sample = await register_sample(runtime, labs[0])
    await service.report_sample(runtime, lab(labs[0]), report(sample["id"], 0.26))

    assert (await service.get_blind_sample(runtime, sample["id"]))["passed"] is False
    emitted = await outbox(runtime)
    assert [(t, key) for t, key, _ in emitted] == [(LAB_FAILED, labs[0]), (SUSPENSION_REQUIRED, labs[0])]
    failure, suspension = emitted[0][2], emitted[1][2]
    assert failure["failure"] == "blind_sample_failed" and failure["reference_id"] == sample["id"]
    assert suspension["field"] == FIELD and suspension["reference_ids"] == [sample["id"]]
    assert "a failed blind sample" in suspension["reason"]


async def test_blind_sample_is_reported_once_and_only_by_its_lab(runtime: ServiceRuntime, labs: list[str]) -> None:
    sample = await register_sample(runtime, labs[0])
    with pytest.raises(NotFound):
        await service.sample_for_lab(runtime, lab(labs[1]), sample["id"])
    with pytest.raises(NotFound):
        await service.report_sample(runtime, lab(labs[1]), report(sample["id"], 0.2))
    await service.report_sample(runtime, lab(labs[0]), report(sample["id"], 0.2))
    with pytest.raises(DomainError) as twice:
        await service.report_sample(runtime, lab(labs[0]), report(sample["id"], 0.21))
    assert twice.value.status_code == 409 and twice.value.field == "sample_id"


async def test_action_signal_after_a_passed_blind_sample_still_counts_as_in_a_row(runtime: ServiceRuntime, labs: list[str]) -> None:
    await run_round(runtime, dict(zip(labs, [10.1, 9.8, 10.2, 11.6, 10.0])))
    sample = await register_sample(runtime, labs[3])
    await service.report_sample(runtime, lab(labs[3]), report(sample["id"], 0.2))
    await run_round(runtime, dict(zip(labs, [10.1, 9.8, 10.2, 11.6, 10.0])))

    assert [t for t, _, _ in await outbox(runtime)] == [LAB_FAILED, LAB_FAILED, SUSPENSION_REQUIRED]


# --- a way out for a round its results cannot evaluate ------------------------------------------

CONSENSUS = {"assigned_value": {"method": "consensus"}, "sigma_pt": {"method": "robust"}}
ROUND_CANCELLED = "proficiency.round_cancelled.v1"


async def stuck_round(runtime: ServiceRuntime, labs: list[str], values: list[float]) -> dict[str, Any]:
    """A consensus round with these results, past its deadline, that closing refuses (422)."""
    round_ = await new_round(runtime, labs, CONSENSUS)
    for org, value in zip(labs, values):
        await submit(runtime, lab(org), round_["id"], value)
    with pytest.raises(DomainError) as refused:
        await close_after_deadline(runtime, round_)
    assert refused.value.status_code == 422
    return round_


async def test_regulator_cancels_a_round_its_results_cannot_evaluate(runtime: ServiceRuntime, labs: list[str]) -> None:
    round_ = await stuck_round(runtime, labs, [10.0, 14.0])

    cancelled = await service.cancel_round(
        runtime, REGULATOR, commands.CancelRound(round_id=round_["id"], reason="two results: no consensus")
    )

    assert cancelled["status"] == "cancelled"
    assert cancelled["cancellation"]["reason"] == "two results: no consensus"
    assert cancelled["cancellation"]["cancelled_by"] == REGULATOR.actor
    assert (await service.get_round(runtime, lab(labs[0]), round_["id"]))["cancellation"]["reason"] == (
        "two results: no consensus"
    )
    emitted = await outbox(runtime, (ROUND_CANCELLED, events.RoundClosedV1.ce_type, events.LabScoredV1.ce_type,
                                     *CONSEQUENCES))
    assert [(t, key) for t, key, _ in emitted] == [(ROUND_CANCELLED, round_["id"])]
    body = emitted[0][2]
    assert (body["reason"], body["cancelled_by"], body["results_received"]) == (
        "two results: no consensus", REGULATOR.actor, 2
    )
    assert (await service.lab_outcomes(runtime, REGULATOR, labs[1]))["outcomes"] == []


async def test_a_cancelled_round_has_no_report_takes_no_result_and_is_not_closed(runtime: ServiceRuntime, labs: list[str]) -> None:
    round_ = await stuck_round(runtime, labs, [10.0])
    await service.cancel_round(runtime, REGULATOR, commands.CancelRound(round_id=round_["id"], reason="one result"))

    for refused_call in (
        service.round_report(runtime, REGULATOR, round_["id"]),
        service.close_round(runtime, REGULATOR, round_["id"]),
        service.cancel_round(runtime, REGULATOR, commands.CancelRound(round_id=round_["id"], reason="again")),
    ):
        with pytest.raises(Conflict) as refused:
            await refused_call
        assert refused.value.field == "status" and "cancelled" in refused.value.message
    listed = await service.list_rounds(runtime, REGULATOR, domain.RoundStatus("cancelled"), None, 10, 0)
    assert [r["status"] for r in listed["items"]] == ["cancelled"]


async def test_a_closed_round_cannot_be_cancelled(runtime: ServiceRuntime, labs: list[str]) -> None:
    closed = await run_round(runtime, dict(zip(labs, [10.1, 9.8, 11.2, 11.6, 10.0])))
    with pytest.raises(Conflict) as refused:
        await service.cancel_round(runtime, REGULATOR, commands.CancelRound(round_id=closed["round"]["id"], reason="x"))
    assert refused.value.field == "status"
    assert [t for t, _, _ in await outbox(runtime, (ROUND_CANCELLED,))] == []


def chosen(round_id: str, reason: str = "two results: the CRM's value and the scheme's sigma_pt") -> commands.CloseRoundWithChosenValues:
    return commands.CloseRoundWithChosenValues.model_validate({
        "round_id": round_id, "reason": reason,
        "assigned_value": {"method": "reference", "value": 10.0, "expanded_uncertainty": 0.2, "coverage_factor": 2},
        "sigma_pt": {"method": "fixed", "value": 0.5},
    })


async def test_regulator_closes_with_values_chosen_then_and_report_and_event_say_so(runtime: ServiceRuntime, labs: list[str]) -> None:
    round_ = await stuck_round(runtime, labs[:2], [10.4, 12.0])

    report = await service.close_round_with_chosen_values(runtime, REGULATOR, chosen(round_["id"]))

    assert report["round"]["status"] == "closed"
    assert (report["assigned_value"], report["sigma_pt"], report["robust_estimate"]) == (10.0, 0.5, None)
    assert report["obtained"] == {"assigned_value": "reference", "sigma_pt": "fixed",
                                  "chosen_at_closing": ["assigned_value", "sigma_pt"]}
    decision = report["closing_decision"]
    assert decision["assigned_value"] == {"method": "reference", "value": 10.0, "expanded_uncertainty": 0.2,
                                          "coverage_factor": 2.0}
    assert decision["sigma_pt"] == {"method": "fixed", "value": 0.5}
    assert decision["reason"] == "two results: the CRM's value and the scheme's sigma_pt"
    assert decision["decided_by"] == REGULATOR.actor
    by_lab = {r["lab_uscc"]: r["scores"] for r in report["results"]}
    assert by_lab[labs[1]]["score"] == pytest.approx(4.0) and by_lab[labs[1]]["signal"] == "action"

    emitted = await outbox(runtime, (events.RoundClosedV1.ce_type, LAB_FAILED))
    closed_event = emitted[0][2]
    assert closed_event["assigned_value_method"] == "reference" and closed_event["sigma_pt_method"] == "fixed"
    assert closed_event["chosen_at_closing"] == ["assigned_value", "sigma_pt"]
    assert closed_event["closing_reason"] == decision["reason"] and closed_event["decided_by"] == REGULATOR.actor
    assert closed_event["algorithm_a_stopping"] is None
    events.RoundClosedV1.model_validate(closed_event)
    assert [(t, key) for t, key, _ in emitted[1:]] == [(LAB_FAILED, labs[1])]
    plot = await service.round_plot(runtime, lab(labs[0]), round_["id"], "svg")
    assert b"chosen at closing" in plot


async def test_a_round_closed_as_designed_says_how_its_values_were_obtained(runtime: ServiceRuntime) -> None:
    report = await closed_robust_round(runtime, ROBUST)
    assert report["obtained"] == {"assigned_value": "consensus", "sigma_pt": "robust", "chosen_at_closing": []}
    assert report["closing_decision"] is None
    closed_event = (await outbox(runtime, (events.RoundClosedV1.ce_type,)))[0][2]
    assert (closed_event["assigned_value_method"], closed_event["sigma_pt_method"]) == ("consensus", "robust")
    assert closed_event["algorithm_a_stopping"] == "third_significant_figure"
    assert closed_event["chosen_at_closing"] == [] and closed_event["closing_reason"] is None


async def test_a_round_its_design_can_evaluate_is_not_closed_with_chosen_values(runtime: ServiceRuntime, labs: list[str]) -> None:
    round_ = await new_round(runtime, labs[:3], CONSENSUS)
    for org, value in zip(labs, [10.0, 10.2, 9.9]):
        await submit(runtime, lab(org), round_["id"], value)
    move_clock(runtime, after(round_))

    with pytest.raises(Conflict) as refused:
        await service.close_round_with_chosen_values(runtime, REGULATOR, chosen(round_["id"]))
    assert refused.value.field == "status"
    assert (await service.get_round(runtime, REGULATOR, round_["id"]))["status"] == "open"
    assert await outbox(runtime, (events.RoundClosedV1.ce_type,)) == []
