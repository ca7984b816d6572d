"""The portal's pages: each one reads or acts through one service's public API with the signed-in
user's token, and renders the answer (Jinja2, server-side; htmx swaps the page's body, so every
page also works as a plain form post without JavaScript).

A refusal (422, 409) re-renders the form with an error summary at the top, each entry linking
to its input, and the same message beside the input it names."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from conformity_shared.auth import Role
from conformity_portal.backend import ServiceUnavailable
from conformity_portal.pages import agency, lab, regulator
from conformity_portal.pages.common import SignInNeeded, WrongRole, failure_page, render

HOME_OF_ROLE = {Role.AGENCY: "/agency", Role.LAB: "/lab", Role.REGULATOR: "/regulator"}


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

    agency.install(app)
    lab.install(app)
    regulator.install(app)
