"""What every page needs: who is asking (the session the issuer's sign-in opened), the services'
client, and rendering (the page's language, the error summary, refusals placed beside their inputs)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from conformity_shared.auth import Principal, Role
from conformity_portal import i18n
from conformity_portal.backend import Answer, FieldError, Services

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent.parent / "templates"))
LOCAL_ZONE = ZoneInfo("Asia/Shanghai")
FLASHES = {"applied_granted", "applied_submitted", "issued", "result_received", "done", "assigned"}

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
        "t": i18n.translator(language), "state": lambda value: i18n.state_name(value, language), "lang": language,
        "errors": errors, "errors_at": by_anchor,
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


def refusal_status(status: int) -> int:
    """The status of a page showing a service's refusal: the service's own (422, 409, 403, ...)."""
    return status if 400 <= status < 500 else 502


def failure_page(request: Request, status_code: int, message_key: str, detail: str | None = None) -> HTMLResponse:
    return render(request, "message.html", status_code, message_key=message_key, detail=detail)


def items(answer: Answer) -> list[dict[str, Any]]:
    """The items of a list answer; none when the service refused (the page then shows none)."""
    return list(answer.body.get("items", [])) if answer.ok and isinstance(answer.body, dict) else []
