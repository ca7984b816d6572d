"""The lab's pages: the rounds it is enrolled in, its result, its scores once the round is closed."""

from __future__ import annotations

import datetime as dt

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from conformity_shared.auth import Role
from conformity_portal import i18n
from conformity_portal.pages.common import (
    ShownError, User, failure_page, items, refusal_status, render, see_other, services, shown, user_of,
)
from conformity_portal.pages.forms import number


def install(app: FastAPI) -> None:
    @app.get("/lab", response_class=HTMLResponse)
    async def lab_home(request: Request) -> Response:
        user = await user_of(request, Role.LAB)
        rounds = await services(request).get("proficiency", "/rounds", user.token)
        return render(request, "lab_home.html", user=user, rounds=items(rounds))

    @app.get("/lab/rounds/{round_id}", response_class=HTMLResponse)
    async def round_page(request: Request, round_id: str) -> Response:
        user = await user_of(request, Role.LAB)
        return await render_round(request, user, round_id)

    @app.post("/lab/rounds/{round_id}/result", response_class=HTMLResponse)
    async def submit_result(request: Request, round_id: str) -> Response:
        user = await user_of(request, Role.LAB)
        data = await request.form()
        form = {name: str(data.get(name, "")).strip() for name in ("value", "expanded_uncertainty", "coverage_factor")}
        body = {name: number(value) for name, value in form.items() if value}
        body.setdefault("value", None)
        answer = await services(request).post("proficiency", f"/rounds/{round_id}/results", user.token, body)
        if answer.ok:
            return see_other(request, f"/lab/rounds/{round_id}?ok=result_received")
        errors = shown(answer.errors(), i18n.language_of(request), set(form))
        return await render_round(request, user, round_id, form=form, errors=errors,
                                  status_code=refusal_status(answer.status))


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
    deadline = dt.datetime.fromisoformat(the_round["deadline"])
    open_for_results = (the_round.get("status") == "open" and not the_round.get("submitted")
                        and deadline > dt.datetime.now(dt.UTC))
    return render(request, "round.html", status_code, user=user, round=the_round, result=result,
                  open_for_results=open_for_results, form=form or {}, errors=errors or [])

