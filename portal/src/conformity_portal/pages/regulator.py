"""The regulator's desk: standard-path applications to accept and decide, open rounds to close."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from conformity_shared.auth import Role
from conformity_portal import i18n
from conformity_portal.backend import Answer
from conformity_portal.pages.common import (
    ShownError, User, items, refusal_status, render, see_other, services, shown, user_of,
)


def install(app: FastAPI) -> None:
    @app.get("/regulator", response_class=HTMLResponse)
    async def regulator_home(request: Request) -> Response:
        user = await user_of(request, Role.REGULATOR)
        return await render_desk(request, user)

    @app.post("/regulator/applications/{application_id}/accept", response_class=HTMLResponse)
    async def accept(request: Request, application_id: str) -> Response:
        user = await user_of(request, Role.REGULATOR)
        answer = await services(request).post("approval", f"/applications/{application_id}/accept", user.token)
        return await after_act(request, user, answer)

    @app.post("/regulator/applications/{application_id}/decision", response_class=HTMLResponse)
    async def decide(request: Request, application_id: str) -> Response:
        user = await user_of(request, Role.REGULATOR)
        data = await request.form()
        reasons = [line.strip() for line in str(data.get("reasons", "")).splitlines() if line.strip()]
        body = {"decision": str(data.get("decision", "")), "reasons": reasons}
        answer = await services(request).post("approval", f"/applications/{application_id}/decision", user.token, body)
        return await after_act(request, user, answer)

    @app.post("/regulator/rounds/{round_id}/close", response_class=HTMLResponse)
    async def close(request: Request, round_id: str) -> Response:
        user = await user_of(request, Role.REGULATOR)
        answer = await services(request).post("proficiency", f"/rounds/{round_id}/close", user.token)
        return await after_act(request, user, answer)


async def after_act(request: Request, user: User, answer: Answer) -> Response:
    if answer.ok:
        return see_other(request, "/regulator?ok=done")
    errors = shown(answer.errors(), i18n.language_of(request), set())
    return await render_desk(request, user, errors=errors, status_code=refusal_status(answer.status))


async def render_desk(request: Request, user: User, *, errors: list[ShownError] | None = None,
                      status_code: int = 200) -> Response:
    backend = services(request)
    to_accept = await backend.get("approval", "/applications", user.token, status="submitted")
    to_decide = await backend.get("approval", "/applications", user.token, status="accepted")
    rounds = await backend.get("proficiency", "/rounds", user.token, status="open")
    return render(request, "regulator_home.html", status_code, user=user, errors=errors or [],
                  to_accept=[a for a in items(to_accept) if a.get("path") == "standard"], to_decide=items(to_decide),
                  rounds=items(rounds))
