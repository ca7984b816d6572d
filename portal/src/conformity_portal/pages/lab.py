"""The lab's pages: the rounds it is enrolled in, its result, its scores and the round's plot
once the round is closed; the samples it must test (blind samples among them, which the lab is
not told) with their report form; its outcomes per field and any suspension with its evidence."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from conformity_shared.auth import Role
from conformity_portal import i18n, paging, plot
from conformity_portal.pages.common import (
    ShownError, User, failure_page, items, refusal_status, render, see_other, services, shown, user_of,
)
from conformity_portal.pages.forms import number

MEASUREMENT = ("value", "expanded_uncertainty", "coverage_factor")


def install(app: FastAPI) -> None:
    @app.get("/lab", response_class=HTMLResponse)
    async def lab_home(request: Request) -> Response:
        user = await user_of(request, Role.LAB)
        backend, query = services(request), dict(request.query_params)
        limit, offset, pager = paging.window(query, request.url.path, "rounds")
        rounds, rounds_pager = paging.settle(pager, items(await backend.get(
            "proficiency", "/rounds", user.token, limit=limit, offset=offset)))
        samples, samples_pager = paging.slice_page(query, request.url.path, "samples",
                                                   items(await backend.get("proficiency", "/samples", user.token)))
        outcomes = await backend.get("proficiency", f"/labs/{user.org}/outcomes", user.token)
        history = outcomes.body if outcomes.ok else {"outcomes": [], "suspensions_required": []}
        outcome_rows, outcomes_pager = paging.slice_page(query, request.url.path, "outcomes",
                                                         list(reversed(history["outcomes"])))
        return render(request, "lab_home.html", user=user, rounds=rounds, rounds_pager=rounds_pager,
                      samples=samples, samples_pager=samples_pager, outcomes=outcome_rows,
                      outcomes_pager=outcomes_pager, fields=outcome_fields(history["outcomes"]),
                      suspensions=history["suspensions_required"],
                      round_ids={o["reference_id"] for o in history["outcomes"] if o["kind"] == "round"})

    @app.get("/lab/rounds/{round_id}", response_class=HTMLResponse)
    async def round_page(request: Request, round_id: str) -> Response:
        user = await user_of(request, Role.LAB)
        return await render_round(request, user, round_id)

    @app.post("/lab/rounds/{round_id}/result", response_class=HTMLResponse)
    async def submit_result(request: Request, round_id: str) -> Response:
        user = await user_of(request, Role.LAB)
        form, body = await measurement_form(request)
        answer = await services(request).post("proficiency", f"/rounds/{round_id}/results", user.token, body)
        if answer.ok:
            return see_other(request, f"/lab/rounds/{round_id}?ok=result_received")
        errors = shown(answer.errors(), i18n.language_of(request), set(form))
        return await render_round(request, user, round_id, form=form, errors=errors,
                                  status_code=refusal_status(answer.status))

    @app.get("/lab/samples/{sample_id}", response_class=HTMLResponse)
    async def sample_page(request: Request, sample_id: str) -> Response:
        user = await user_of(request, Role.LAB)
        return await render_sample(request, user, sample_id)

    @app.post("/lab/samples/{sample_id}/result", response_class=HTMLResponse)
    async def report_sample(request: Request, sample_id: str) -> Response:
        user = await user_of(request, Role.LAB)
        form, body = await measurement_form(request)
        answer = await services(request).post("proficiency", f"/samples/{sample_id}/result", user.token, body)
        if answer.ok:
            return see_other(request, f"/lab/samples/{sample_id}?ok=result_received")
        errors = shown(answer.errors(), i18n.language_of(request), set(form))
        return await render_sample(request, user, sample_id, form=form, errors=errors,
                                   status_code=refusal_status(answer.status))


async def measurement_form(request: Request) -> tuple[dict[str, str], dict[str, Any]]:
    """The result form as typed (to re-render it), and the body it becomes: the service judges it."""
    data = await request.form()
    form = {name: str(data.get(name, "")).strip() for name in MEASUREMENT}
    body: dict[str, Any] = {name: number(value) for name, value in form.items() if value}
    body.setdefault("value", None)
    return form, body


def outcome_fields(outcomes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per field: how many outcomes, how many failed, the last signal."""
    fields: dict[str, dict[str, Any]] = {}
    for o in outcomes:
        f = fields.setdefault(o["field"], {"field": o["field"], "total": 0, "failed": 0, "last": None})
        f["total"] += 1
        f["failed"] += 0 if o.get("passed", True) else 1
        f["last"] = o.get("signal") or f["last"]
    return sorted(fields.values(), key=lambda f: f["field"])


async def render_round(request: Request, user: User, round_id: str, *, form: dict[str, str] | None = None,
                       errors: list[ShownError] | None = None, status_code: int = 200) -> Response:
    backend = services(request)
    answer = await backend.get("proficiency", f"/rounds/{round_id}", user.token)
    if not answer.ok:
        return failure_page(request, 404, "not_found")
    the_round = answer.body
    result = None
    if the_round.get("submitted"):
        mine = await backend.get("proficiency", f"/rounds/{round_id}/results/{user.org}", user.token)
        result = mine.body if mine.ok else None
    report, figure, points = None, None, []
    if the_round.get("status") == "closed":
        published = await backend.get("proficiency", f"/rounds/{round_id}/report", user.token)
        if published.ok:
            report = published.body
            points = plot.points_of(report.get("distribution", []))
            figure = plot.render(points, **plot_texts(request, the_round, report, points))
    deadline = dt.datetime.fromisoformat(the_round["deadline"])
    open_for_results = (the_round.get("status") == "open" and not the_round.get("submitted")
                        and deadline > dt.datetime.now(dt.UTC))
    return render(request, "round.html", status_code, user=user, round=the_round, result=result,
                  open_for_results=open_for_results, form=form or {}, errors=errors or [],
                  report=report, figure=figure, points=points)


def plot_texts(request: Request, the_round: dict[str, Any], report: dict[str, Any],
               points: list[plot.Point]) -> dict[str, str]:
    """The plot's title, its description (what a screen reader says of it) and its labels."""
    t = i18n.translator(i18n.language_of(request))
    kind = str(report.get("score_used", "z"))
    own = next((p for p in points if p.yours), None)
    description = t("plot_desc").format(n=len(points), kind=kind)
    if own:
        description += " " + t("plot_desc_yours").format(score=f"{own.score:.2f}", rank=own.rank, n=len(points),
                                                       signal=i18n.state_name(own.signal, i18n.language_of(request)))
    return {"title": t("plot_title").format(field=the_round["field"], measurand=the_round["measurand"], kind=kind),
            "description": description, "score_kind": t("plot_axis").format(kind=kind), "you": t("plot_you")}


async def render_sample(request: Request, user: User, sample_id: str, *, form: dict[str, str] | None = None,
                        errors: list[ShownError] | None = None, status_code: int = 200) -> Response:
    answer = await services(request).get("proficiency", f"/samples/{sample_id}", user.token)
    if not answer.ok:
        return failure_page(request, 404, "not_found")
    return render(request, "sample.html", status_code, user=user, sample=answer.body, form=form or {},
                  errors=errors or [])
