"""The regulator's desk: standard-path applications to accept and decide, open rounds to close;
what is overdue (applications past their working-day deadline, commitment verifications past
their due date); post-approval verifications to assign to an inspector."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from conformity_shared.auth import Role
from conformity_portal import i18n, paging
from conformity_portal.backend import Answer, ServiceUnavailable
from conformity_portal.pages.common import (
    LOCAL_ZONE, ShownError, User, items, refusal_status, render, see_other, services, shown, user_of,
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

    @app.get("/regulator/overdue", response_class=HTMLResponse)
    async def overdue(request: Request) -> Response:
        """What is past its deadline today, or by a later day the regulator plans for (`as_of`)."""
        user = await user_of(request, Role.REGULATOR)
        as_of = request.query_params.get("as_of", "").strip()
        errors: list[ShownError] = []
        if as_of:
            try:
                dt.date.fromisoformat(as_of)
            except ValueError:
                errors = [ShownError("as_of", "date", None, i18n.translator(i18n.language_of(request))("bad_date"))]
        answer = await services(request).get("approval", "/applications/overdue", user.token,
                                             as_of=as_of if as_of and not errors else None)
        if not answer.ok and not errors:
            errors = shown(answer.errors(), i18n.language_of(request), {"as_of"})
        body = answer.body if answer.ok else {"applications": [], "verifications": [], "as_of": None}
        query, path = dict(request.query_params), request.url.path
        late_applications, a_pager = paging.slice_page(query, path, "applications", body["applications"])
        late_checks, v_pager = paging.slice_page(query, path, "verifications", body["verifications"])
        return render(request, "regulator_overdue.html", 422 if errors else 200, user=user, errors=errors,
                      as_of=as_of, judged_on=body.get("as_of"), applications=late_applications,
                      applications_pager=a_pager, verifications=late_checks, verifications_pager=v_pager)

    @app.get("/regulator/verifications", response_class=HTMLResponse)
    async def verifications(request: Request) -> Response:
        user = await user_of(request, Role.REGULATOR)
        return await render_verifications(request, user)

    @app.post("/regulator/verifications/{verification_id}/assign", response_class=HTMLResponse)
    async def assign(request: Request, verification_id: str) -> Response:
        user = await user_of(request, Role.REGULATOR)
        data = await request.form()
        inspector_id = str(data.get("inspector_id", "")).strip()
        answer = await services(request).post("approval", f"/verifications/{verification_id}/assign", user.token,
                                              {"inspector_id": inspector_id})
        if answer.ok:
            return see_other(request, "/regulator/verifications?ok=assigned")
        anchor = f"inspector-{verification_id}"
        errors = [ShownError(anchor if e.anchor in ("inspector_id", None) else None, e.rule, e.rule_name, e.detail)
                  for e in shown(answer.errors(), i18n.language_of(request))]
        return await render_verifications(request, user, errors=errors, typed={verification_id: inspector_id},
                                          status_code=refusal_status(answer.status))


async def after_act(request: Request, user: User, answer: Answer) -> Response:
    if answer.ok:
        return see_other(request, "/regulator?ok=done")
    errors = shown(answer.errors(), i18n.language_of(request), set())
    return await render_desk(request, user, errors=errors, status_code=refusal_status(answer.status))


async def render_desk(request: Request, user: User, *, errors: list[ShownError] | None = None,
                      status_code: int = 200) -> Response:
    backend, query, path = services(request), dict(request.query_params), request.url.path
    wanted = {name: paging.window(query, path, name) for name in ("accept", "decide", "rounds")}
    to_accept, to_decide, rounds = await asyncio.gather(
        backend.get("approval", "/applications", user.token, status="submitted",
                    limit=wanted["accept"][0], offset=wanted["accept"][1]),
        backend.get("approval", "/applications", user.token, status="accepted",
                    limit=wanted["decide"][0], offset=wanted["decide"][1]),
        backend.get("proficiency", "/rounds", user.token, status="open",
                    limit=wanted["rounds"][0], offset=wanted["rounds"][1]))
    accept_rows, accept_pager = paging.settle(wanted["accept"][2], items(to_accept))
    decide_rows, decide_pager = paging.settle(wanted["decide"][2], items(to_decide))
    round_rows, rounds_pager = paging.settle(wanted["rounds"][2], items(rounds))
    now = dt.datetime.now(dt.UTC)
    return render(request, "regulator_home.html", status_code, user=user, errors=errors or [],
                  to_accept=[a for a in accept_rows if a.get("path") == "standard"], accept_pager=accept_pager,
                  to_decide=decide_rows, decide_pager=decide_pager, rounds=round_rows, rounds_pager=rounds_pager,
                  past_deadline={r["id"] for r in round_rows if dt.datetime.fromisoformat(r["deadline"]) <= now})


async def render_verifications(request: Request, user: User, *, errors: list[ShownError] | None = None,
                               typed: dict[str, str] | None = None, status_code: int = 200) -> Response:
    backend, query, path = services(request), dict(request.query_params), request.url.path
    scheduled = items(await backend.get("approval", "/verifications", user.token, status="scheduled"))
    rows, pager = paging.slice_page(query, path, "verifications", scheduled)
    return render(request, "regulator_verifications.html", status_code, user=user, errors=errors or [],
                  verifications=rows, verifications_pager=pager, inspectors=await inspector_directory(request, user),
                  typed=typed or {}, today=dt.datetime.now(LOCAL_ZONE).date().isoformat())


async def inspector_directory(request: Request, user: User) -> list[dict[str, Any]]:
    """The active inspectors (supervision's directory), to choose from; none when supervision is
    not reachable: the inspector's id is then typed, and approval judges it."""
    try:
        answer = await services(request).get("supervision", "/inspectors", user.token)
    except ServiceUnavailable:
        return []
    return [i for i in items(answer) if i.get("active", True)]
