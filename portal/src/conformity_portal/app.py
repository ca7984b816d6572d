"""Composition root of the portal: settings, the sign-in through the issuer, the services'
client, the pages and the static files (htmx vendored: a page loads nothing from elsewhere).

`make run` starts it with `uvicorn --factory conformity_portal.app:create_app` on port 8005.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from conformity_shared import web
from conformity_shared.oidc import TokenVerifier
from conformity_shared.web_sign_in import WebSignIn
from conformity_portal import pages
from conformity_portal.backend import Services
from conformity_portal.settings import PortalSettings


def create_app(settings: PortalSettings | None = None, transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    settings = settings or PortalSettings()
    verifier = TokenVerifier.from_settings(settings)  # refuses development identity in production
    sign_in = WebSignIn(settings, verifier, public_url=settings.portal_url, cookie_prefix="conformity_portal")
    services = Services(settings, transport)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await verifier.check_at_start()
        try:
            yield
        finally:
            await services.close()

    app = FastAPI(title="Conformity portal", description="Agencies, laboratories and the regulator, in the browser.",
                  version="1.0.0", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.token_verifier = verifier
    app.state.sign_in = sign_in
    app.state.services = services
    # Security headers (pages run only the portal's own files), body size, trusted proxies.
    web.install_edge(app, settings)
    app.include_router(sign_in.router)
    pages.install(app)
    app.mount("/static", StaticFiles(packages=[("conformity_portal", "static")]), name="static")
    return app
