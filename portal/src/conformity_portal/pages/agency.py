"""The agency's pages: its applications, approvals and certificates; applying on either path;
issuing certificates one by one or from a CSV file."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile

from conformity_shared.auth import Role
from conformity_portal import i18n, paging
from conformity_portal.backend import FieldError, ServiceUnavailable
from conformity_portal.pages.common import (
    ShownError, User, failure_page, items, refusal_status, render, see_other, services, shown, user_of,
)
from conformity_portal.pages.forms import CERTIFICATE_COLUMNS, ApplyForm, certificate_body, read_csv

SCHEMES = ("CCC", "voluntary_product", "management_system", "service")
# What the regulator did to an approval that the agency must see with its reason.
SUPERVISORY_ACTIONS = ("suspended", "reinstated", "scope_reduced", "revoked")


def install(app: FastAPI) -> None:
    @app.get("/agency", response_class=HTMLResponse)
    async def agency_home(request: Request) -> Response:
        user = await user_of(request, Role.AGENCY)
        backend, query, path = services(request), dict(request.query_params), request.url.path
        a_limit, a_offset, a_pager = paging.window(query, path, "applications")
        c_limit, c_offset, c_pager = paging.window(query, path, "certificates")
        applications, approvals, certificates = await asyncio.gather(
            backend.get("approval", "/applications", user.token, limit=a_limit, offset=a_offset),
            backend.get("approval", "/approvals", user.token),
            backend.get("certificates", "/certificates", user.token, limit=c_limit, offset=c_offset))
        application_rows, a_pager = paging.settle(a_pager, items(applications))
        certificate_rows, c_pager = paging.settle(c_pager, items(certificates))
        approval_rows, ap_pager = paging.slice_page(query, path, "approvals", items(approvals))
        return render(request, "agency_home.html", user=user, applications=application_rows, applications_pager=a_pager,
                      approvals=approval_rows, approvals_pager=ap_pager, certificates=certificate_rows,
                      certificates_pager=c_pager,
                      suspended=[ap for ap in items(approvals) if ap.get("status") == "suspended" or ap.get("suspended_fields")])

    @app.get("/agency/supervision", response_class=HTMLResponse)
    async def agency_supervision(request: Request) -> Response:
        """What the regulator's supervision holds on the agency: its credit sanctions, the
        verifications of its commitments, and the suspensions of its approvals with their reasons."""
        user = await user_of(request, Role.AGENCY)
        backend, query, path = services(request), dict(request.query_params), request.url.path
        sanctions, approvals, credit = await asyncio.gather(backend.get("approval", "/credit-sanctions", user.token),
                                                            backend.get("approval", "/approvals", user.token),
                                                            credit_of(request, user))
        approval_list = items(approvals)
        checks = sorted((v for ap in approval_list for v in ap.get("verifications", [])),
                        key=lambda v: (v.get("due") or "", v["id"]), reverse=True)
        acts = sorted(({**h, "approval_id": ap["id"]} for ap in approval_list for h in ap.get("history", [])
                       if h.get("action") in SUPERVISORY_ACTIONS), key=lambda h: h["at"], reverse=True)
        sanction_rows, s_pager = paging.slice_page(query, path, "sanctions", items(sanctions))
        check_rows, v_pager = paging.slice_page(query, path, "verifications", checks)
        act_rows, h_pager = paging.slice_page(query, path, "suspensions", acts)
        return render(request, "agency_supervision.html", user=user, credit=credit,
                      sanctions=sanction_rows, sanctions_pager=s_pager,
                      verifications=check_rows, verifications_pager=v_pager, suspensions=act_rows,
                      suspensions_pager=h_pager,
                      suspended=[ap for ap in approval_list if ap.get("status") == "suspended" or ap.get("suspended_fields")])

    @app.get("/agency/apply", response_class=HTMLResponse)
    async def apply_form(request: Request, path: str = "commitment", kind: str = "certification_body") -> Response:
        user = await user_of(request, Role.AGENCY)
        form = ApplyForm.empty(path, kind)
        return render(request, "apply.html", user=user, form=form, catalogue=await catalogue(request, form.kind))

    @app.get("/agency/apply/fields", response_class=HTMLResponse)
    async def apply_fields(request: Request, kind: str = "certification_body", path: str = "commitment") -> Response:
        """The field rows of the chosen kind (htmx swaps them in when the kind changes)."""
        await user_of(request, Role.AGENCY)
        form = ApplyForm.empty(path, kind)
        return render(request, "apply_fields.html", form=form, catalogue=await catalogue(request, form.kind))

    @app.post("/agency/apply", response_class=HTMLResponse)
    async def apply(request: Request) -> Response:
        user = await user_of(request, Role.AGENCY)
        form = ApplyForm.read(await request.form())
        answer = await services(request).post("approval", "/applications", user.token, form.body(user.org))
        if answer.ok:
            flash = "applied_granted" if answer.body.get("status") == "granted" else "applied_submitted"
            return see_other(request, f"/agency/applications/{answer.body['id']}?ok={flash}")
        fields = await catalogue(request, form.kind)
        known = form.anchors(fields)
        errors = shown(answer.errors(), i18n.language_of(request), known)
        refused_id = answer.body.get("application_id") if isinstance(answer.body, dict) else None
        return render(request, "apply.html", refusal_status(answer.status), user=user, form=form,
                      catalogue=fields, errors=errors, refused_id=refused_id)

    @app.get("/agency/applications/{application_id}", response_class=HTMLResponse)
    async def application_page(request: Request, application_id: str) -> Response:
        user = await user_of(request, Role.AGENCY)
        answer = await services(request).get("approval", f"/applications/{application_id}", user.token)
        if not answer.ok:
            return failure_page(request, 404, "not_found")
        language = i18n.language_of(request)
        failed = shown([FieldError(r.get("field"), r.get("rule"), r.get("detail", ""))
                        for r in answer.body.get("failed_rules") or []], language)
        return render(request, "application.html", user=user, application=answer.body, failed=failed)

    @app.get("/agency/certificates/new", response_class=HTMLResponse)
    async def certificate_form(request: Request) -> Response:
        user = await user_of(request, Role.AGENCY)
        return render(request, "certificate_new.html", user=user, form={}, scope=await scope_of(request, user),
                      schemes=SCHEMES)

    @app.post("/agency/certificates", response_class=HTMLResponse)
    async def issue(request: Request) -> Response:
        user = await user_of(request, Role.AGENCY)
        data = await request.form()
        form = {name: str(data.get(name, "")).strip() for name in CERTIFICATE_COLUMNS}
        answer = await services(request).post("certificates", "/certificates", user.token, certificate_body(form))
        if answer.ok:
            return see_other(request, f"/agency/certificates/{answer.body['number']}?ok=issued")
        errors = shown(answer.errors(), i18n.language_of(request), set(CERTIFICATE_COLUMNS))
        return render(request, "certificate_new.html", refusal_status(answer.status), user=user, form=form,
                      scope=await scope_of(request, user), schemes=SCHEMES, errors=errors)

    @app.get("/agency/certificates/upload", response_class=HTMLResponse)
    async def upload_form(request: Request) -> Response:
        user = await user_of(request, Role.AGENCY)
        return render(request, "upload.html", user=user, report=None)

    @app.post("/agency/certificates/upload", response_class=HTMLResponse)
    async def upload(request: Request) -> Response:
        user = await user_of(request, Role.AGENCY)
        data = await request.form()
        file = data.get("file")
        language = i18n.language_of(request)
        if not isinstance(file, UploadFile):
            return render(request, "upload.html", 422, user=user, report=None,
                          errors=[ShownError("file", None, None, i18n.translator(language)("csv_unreadable"))])
        limit = request.app.state.settings.portal_max_upload_rows
        try:
            rows = read_csv(await file.read(), limit)
        except ValueError as exc:
            message = i18n.translator(language)("csv_unreadable") + str(exc)
            return render(request, "upload.html", 422, user=user, report=None,
                          errors=[ShownError("file", None, None, message)])
        report = []
        backend = services(request)
        # The certificates service has no bulk issuance endpoint: one call per row, each row its own outcome.
        for line, row in rows:
            answer = await backend.post("certificates", "/certificates", user.token, certificate_body(row))
            report.append({"line": line, "holder": row.get("holder_name", ""), "ok": answer.ok,
                           "number": answer.body.get("number") if answer.ok else None,
                           "errors": [] if answer.ok else shown(answer.errors(), language)})
        return render(request, "upload.html", user=user, report=report,
                      issued=sum(1 for r in report if r["ok"]), refused=sum(1 for r in report if not r["ok"]))

    @app.get("/agency/certificates/{number}", response_class=HTMLResponse)
    async def certificate_page(request: Request, number: str) -> Response:
        user = await user_of(request, Role.AGENCY)
        answer = await services(request).get("certificates", f"/certificates/{number}", user.token)
        if not answer.ok:
            return failure_page(request, 404, "not_found")
        return render(request, "certificate.html", user=user, certificate=answer.body)


async def catalogue(request: Request, kind: str) -> list[dict[str, Any]]:
    """The catalogue's fields for this kind of organisation (approval's public catalogue)."""
    answer = await services(request).call("approval", "GET", "/catalogue", "")
    fields = answer.body.get("fields", []) if answer.ok else []
    return [f for f in fields if f.get("kind") == kind]


async def scope_of(request: Request, user: User) -> list[str]:
    """The fields the agency may issue in: those of its approvals, approved and not suspended."""
    answer = await services(request).get("approval", "/approvals", user.token)
    fields: set[str] = set()
    for approval in items(answer):
        if approval.get("status") == "active":
            fields |= set(approval.get("approved_fields") or []) - set(approval.get("suspended_fields") or [])
    return sorted(fields)


async def credit_of(request: Request, user: User) -> dict[str, Any] | None:
    """The agency's credit class and its history in supervision's directory; None when it is not
    listed yet or supervision cannot be reached (the rest of the page does not depend on it)."""
    try:
        answer = await services(request).get("supervision", f"/targets/{user.org}", user.token)
    except ServiceUnavailable:
        return None
    return answer.body if answer.ok and isinstance(answer.body, dict) else None
