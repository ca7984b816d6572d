"""The portal's pages: each one reads or acts through one service's public API with the signed-in
user's token, and renders the answer (Jinja2, server-side; htmx swaps the page's body, so every
page also works as a plain form post without JavaScript).

A refusal (422, 409) re-renders the form with an error summary at the top, each entry linking
to its input, and the same message beside the input it names."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData, UploadFile

from conformity_shared.auth import Principal, Role
from conformity_portal import i18n
from conformity_portal.backend import Answer, FieldError, ServiceUnavailable, Services

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
LOCAL_ZONE = ZoneInfo("Asia/Shanghai")
SCHEMES = ("CCC", "voluntary_product", "management_system", "service")
HOME_OF_ROLE = {Role.AGENCY: "/agency", Role.LAB: "/lab", Role.REGULATOR: "/regulator"}
FLASHES = {"applied_granted", "applied_submitted", "issued", "result_received", "done"}


# --- who is asking ------------------------------------------------------------------------------


class SignInNeeded(Exception):
    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


class WrongRole(Exception):
    pass


@dataclass(frozen=True)
class User:
    principal: Principal
    token: str

    @property
    def org(self) -> str:
        return self.principal.org or ""


async def user_of(request: Request, *roles: Role) -> User:
    """The signed-in user (the session the issuer's sign-in opened), of one of `roles`."""
    sign_in = request.app.state.sign_in
    principal = await sign_in.session_principal(request)
    token = sign_in.session_token(request)
    if principal is None or token is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInNeeded(target if request.method == "GET" else request.url.path)
    if roles and principal.role not in roles:
        raise WrongRole()
    return User(principal, token)


def services(request: Request) -> Services:
    return request.app.state.services


# --- rendering ----------------------------------------------------------------------------------


def local_time(value: str | None) -> str:
    """An instant of the services (ISO 8601) in the regulator's time zone, to the minute."""
    if not value:
        return ""
    try:
        instant = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    if instant.tzinfo is None:
        return instant.strftime("%Y-%m-%d %H:%M")
    return instant.astimezone(LOCAL_ZONE).strftime("%Y-%m-%d %H:%M")


def anchor(field: str | None) -> str | None:
    """The id of the input a service's field path names (`declared.staff_per_field.MS-QMS` is
    the staff input of that field's row), or None when it names none."""
    if not field:
        return None
    parts = field.split(".")
    if parts[0] == "declared" and len(parts) >= 2:
        if parts[1] == "staff_per_field":
            return f"staff-{parts[2]}" if len(parts) > 2 else "fields"
        return parts[1]
    if parts[0] == "requested_fields":
        return f"field-{parts[1]}" if len(parts) > 1 and not parts[1].isdigit() else "fields"
    if parts[0] in ("assigned_value", "sigma_pt") or parts[0] == "measurement":
        return parts[-1]
    return parts[0]


@dataclass(frozen=True)
class ShownError:
    anchor: str | None
    rule: str | None
    rule_name: str | None
    detail: str


def shown(errors: list[FieldError], language: str, known: set[str] | None = None) -> list[ShownError]:
    """Errors as the page shows them; an anchor the form does not have is dropped (the summary
    entry then stands alone, without a link)."""
    result = []
    for error in errors:
        target = anchor(error.field)
        if known is not None and target not in known:
            target = None
        result.append(ShownError(target, error.rule, i18n.rule_name(error.rule, language), error.detail))
    return result


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    language = i18n.language_of(request)
    errors: list[ShownError] = context.get("errors", [])
    by_anchor: dict[str, list[ShownError]] = {}
    for error in errors:
        if error.anchor:
            by_anchor.setdefault(error.anchor, []).append(error)
    flash = request.query_params.get("ok")
    response = TEMPLATES.TemplateResponse(request, template, {
        "t": i18n.translator(language), "state": lambda v: i18n.state_name(v, language), "lang": language, "errors": errors, "errors_at": by_anchor,
        "flash": flash if flash in FLASHES else None, "local_time": local_time, "path": request.url.path,
        **context,
    }, status_code=status_code)
    if request.query_params.get("lang") in i18n.LANGUAGES:
        response.set_cookie(i18n.COOKIE, language, max_age=365 * 24 * 3600, samesite="lax", httponly=True)
    response.headers["Content-Language"] = "zh-CN" if language == "zh" else "en"
    return response


def see_other(request: Request, target: str) -> Response:
    """After a post that succeeded: the page to show (htmx follows the redirect and swaps it in)."""
    return RedirectResponse(target, status_code=303)


def failure_page(request: Request, status_code: int, message_key: str, detail: str | None = None) -> HTMLResponse:
    return render(request, "message.html", status_code, message_key=message_key, detail=detail)


# --- the routes ---------------------------------------------------------------------------------


def install(app: FastAPI) -> None:
    @app.exception_handler(SignInNeeded)
    async def sign_in_needed(request: Request, exc: SignInNeeded) -> Response:
        target = f"/auth/sign-in?next={exc.next_path}"
        if request.headers.get("HX-Request"):
            return Response(status_code=200, headers={"HX-Redirect": target})  # a whole-page navigation
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(WrongRole)
    async def wrong_role(request: Request, _exc: WrongRole) -> Response:
        return failure_page(request, 403, "no_pages")

    @app.exception_handler(ServiceUnavailable)
    async def unavailable(request: Request, exc: ServiceUnavailable) -> Response:
        return failure_page(request, 503, "service_unavailable", exc.service)

    @app.get("/health", include_in_schema=False)
    async def health() -> JSONResponse:
        return JSONResponse({"service": "portal", "status": "ok"})

    @app.get("/", response_class=HTMLResponse)
    async def home(request: Request) -> Response:
        principal = await request.app.state.sign_in.session_principal(request)
        if principal is None:
            return render(request, "home.html")
        if principal.role in HOME_OF_ROLE:
            return RedirectResponse(HOME_OF_ROLE[principal.role], status_code=303)
        return failure_page(request, 403, "no_pages")

    install_agency(app)
    install_lab(app)
    install_regulator(app)


# --- agency -------------------------------------------------------------------------------------


def install_agency(app: FastAPI) -> None:
    @app.get("/agency", response_class=HTMLResponse)
    async def agency_home(request: Request) -> Response:
        user = await user_of(request, Role.AGENCY)
        backend = services(request)
        applications = await backend.get("approval", "/applications", user.token)
        approvals = await backend.get("approval", "/approvals", user.token)
        certificates = await backend.get("certificates", "/certificates", user.token)
        return render(request, "agency_home.html", user=user, applications=items(applications),
                      approvals=items(approvals), certificates=items(certificates))

    @app.get("/agency/apply", response_class=HTMLResponse)
    async def apply_form(request: Request, path: str = "commitment", kind: str = "certification_body") -> Response:
        user = await user_of(request, Role.AGENCY)
        form = ApplyForm.empty(path, kind, request)
        return render(request, "apply.html", user=user, form=form, catalogue=await catalogue(request, form.kind))

    @app.get("/agency/apply/fields", response_class=HTMLResponse)
    async def apply_fields(request: Request, kind: str = "certification_body", path: str = "commitment") -> Response:
        """The field rows of the chosen kind (htmx swaps them in when the kind changes)."""
        await user_of(request, Role.AGENCY)
        form = ApplyForm.empty(path, kind, request)
        return render(request, "apply_fields.html", form=form, catalogue=await catalogue(request, form.kind))

    @app.post("/agency/apply", response_class=HTMLResponse)
    async def apply(request: Request) -> Response:
        user = await user_of(request, Role.AGENCY)
        form = ApplyForm.read(await request.form(), request)
        answer = await services(request).post("approval", "/applications", user.token, form.body(user.org))
        if answer.ok:
            flash = "applied_granted" if answer.body.get("status") == "granted" else "applied_submitted"
            return see_other(request, f"/agency/applications/{answer.body['id']}?ok={flash}")
        fields = await catalogue(request, form.kind)
        known = form.anchors(fields)
        errors = shown(answer.errors(), i18n.language_of(request), known)
        return render(request, "apply.html", 422 if answer.status == 422 else 400, user=user, form=form,
                      catalogue=fields, errors=errors, refused_id=answer.body.get("application_id"))

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
        return render(request, "certificate_new.html", 422, user=user, form=form, scope=await scope_of(request, user),
                      schemes=SCHEMES, errors=errors)

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
            return render(request, "upload.html", 422, user=user, report=None, errors=[ShownError("file", None, None, message)])
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


def items(answer: Answer) -> list[dict[str, Any]]:
    return list(answer.body.get("items", [])) if answer.ok and isinstance(answer.body, dict) else []


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


@dataclass
class ApplyForm:
    """The application form as the agency filled it: kept to re-render it after a refusal."""

    path: str
    kind: str
    organisation_name: str
    requested: list[str]
    staff: dict[str, str]
    registered_capital_rmb: str
    premises: str
    management_system: str
    commitment_text: str

    @classmethod
    def empty(cls, path: str, kind: str, request: Request) -> ApplyForm:
        path = path if path in ("commitment", "standard") else "commitment"
        kind = kind if kind in ("certification_body", "testing_lab") else "certification_body"
        return cls(path, kind, "", [], {}, "", "", "", "")

    @classmethod
    def read(cls, data: FormData, request: Request) -> ApplyForm:
        form = cls.empty(str(data.get("path", "")), str(data.get("kind", "")), request)
        form.organisation_name = str(data.get("organisation_name", "")).strip()
        form.requested = [str(code) for code in data.getlist("requested_fields")]
        form.staff = {key.removeprefix("staff-"): str(value).strip() for key, value in data.items()
                      if key.startswith("staff-") and str(value).strip()}
        for name in ("registered_capital_rmb", "premises", "management_system", "commitment_text"):
            setattr(form, name, str(data.get(name, "")).strip())
        return form

    def body(self, organisation_uscc: str) -> dict[str, Any]:
        """The body of `POST /applications`: the services' rules judge it, the portal only shapes it."""
        declared: dict[str, Any] = {
            "staff_per_field": {code: whole(self.staff[code]) for code in self.requested if code in self.staff},
            "premises": self.premises or None, "management_system": self.management_system or None,
        }
        if self.registered_capital_rmb:
            declared["registered_capital_rmb"] = whole(self.registered_capital_rmb.replace(",", ""))
        return {
            "organisation_uscc": organisation_uscc, "organisation_name": self.organisation_name, "kind": self.kind,
            "path": self.path, "requested_fields": self.requested, "declared": declared,
            "commitment_text": (self.commitment_text or None) if self.path == "commitment" else None,
        }

    def anchors(self, fields: list[dict[str, Any]]) -> set[str]:
        codes = [f["code"] for f in fields]
        return {"organisation_uscc", "organisation_name", "kind", "fields", "registered_capital_rmb", "premises",
                "management_system", "commitment_text", *(f"field-{c}" for c in codes), *(f"staff-{c}" for c in codes)}


def whole(text: str) -> int | str:
    """A whole number if it reads as one; else the text, which the service refuses naming its field."""
    try:
        return int(text)
    except ValueError:
        return text


CERTIFICATE_COLUMNS = ("holder_uscc", "holder_name", "scheme", "field", "product", "standard", "valid_from", "valid_until")


def certificate_body(row: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {name: (row.get(name) or "").strip() for name in CERTIFICATE_COLUMNS[:6]}
    for name in ("valid_from", "valid_until"):
        if (row.get(name) or "").strip():
            body[name] = row[name].strip()
    return body


def read_csv(content: bytes, limit: int) -> list[tuple[int, dict[str, str]]]:
    """The rows of an uploaded CSV (UTF-8, with or without BOM), with their line numbers."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError("it is not UTF-8 text") from None
    reader = csv.DictReader(io.StringIO(text))
    missing = set(CERTIFICATE_COLUMNS[:6]) - set(reader.fieldnames or ())
    if missing:
        raise ValueError("missing columns: " + ", ".join(sorted(missing)))
    rows = [(reader.line_num, {k: (v or "") for k, v in row.items() if k}) for row in reader]
    if not rows:
        raise ValueError("no rows")
    if len(rows) > limit:
        raise ValueError(f"more than {limit} rows")
    return rows


# --- lab ----------------------------------------------------------------------------------------


def install_lab(app: FastAPI) -> None:
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
        return await render_round(request, user, round_id, form=form, errors=errors, status_code=422)


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


def number(text: str) -> float | str:
    try:
        return float(text.replace(",", "."))
    except ValueError:
        return text


# --- regulator ----------------------------------------------------------------------------------


def install_regulator(app: FastAPI) -> None:
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
    return await render_desk(request, user, errors=errors, status_code=answer.status if answer.status < 500 else 502)


async def render_desk(request: Request, user: User, *, errors: list[ShownError] | None = None,
                      status_code: int = 200) -> Response:
    backend = services(request)
    to_accept = await backend.get("approval", "/applications", user.token, status="submitted")
    to_decide = await backend.get("approval", "/applications", user.token, status="accepted")
    rounds = await backend.get("proficiency", "/rounds", user.token, status="open")
    return render(request, "regulator_home.html", status_code, user=user, errors=errors or [],
                  to_accept=[a for a in items(to_accept) if a.get("path") == "standard"], to_decide=items(to_decide),
                  rounds=items(rounds))
