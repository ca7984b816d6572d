"""Security headers on every answer: JSON, errors (404, 422, 500), HTML pages, the docs pages."""

from __future__ import annotations

import base64
import hashlib
import re

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from conformity_shared import web
from conformity_shared.security_headers import ASYNCAPI_PAGE_POLICY, DOCS_PAGE_POLICY, NOTHING_POLICY, with_script_hashes
from conformity_shared.settings import HttpEdgeSettings

EVERY_ANSWER = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def app_with_headers(settings: HttpEdgeSettings | None = None) -> FastAPI:
    app = FastAPI()
    web.install_edge(app, settings or HttpEdgeSettings())

    @app.get("/things/{n}")
    async def thing(n: int) -> dict:
        return {"n": n}

    @app.get("/page", response_class=HTMLResponse)
    async def page() -> str:
        return "<!doctype html><script src='/static/page.js'></script>"

    @app.get("/boom")
    async def boom() -> dict:
        raise RuntimeError("a bug")

    return app


def client_for(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://t")


def assert_every_answer_header(answer: httpx.Response) -> None:
    for name, value in EVERY_ANSWER.items():
        assert answer.headers.get(name) == value, (answer.request.url, name)


@pytest.mark.parametrize(("path", "status"), [("/things/1", 200), ("/things/x", 422), ("/nowhere", 404), ("/boom", 500)])
async def test_json_answers_and_errors_carry_the_headers_and_a_policy_that_allows_nothing(path: str, status: int) -> None:
    async with client_for(app_with_headers()) as client:
        answer = await client.get(path)
    assert answer.status_code == status
    assert_every_answer_header(answer)
    policy = answer.headers["Content-Security-Policy"]
    assert policy == NOTHING_POLICY and "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "Strict-Transport-Security" not in answer.headers
    assert "Cache-Control" not in answer.headers  # public answers may be cached


async def test_an_html_page_may_run_only_its_own_files() -> None:
    async with client_for(app_with_headers()) as client:
        answer = await client.get("/page")
    assert_every_answer_header(answer)
    policy = answer.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "style-src 'self';" in policy and "connect-src 'self'" in policy
    assert "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy


def inline_script_hash(html: str) -> str:
    script = re.search(r"<script>(.*?)</script>", html, re.DOTALL).group(1)  # type: ignore[union-attr]
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"


async def test_the_docs_pages_may_load_their_renderers_and_run_only_their_own_inline_script() -> None:
    async with client_for(app_with_headers()) as client:
        docs, redoc = await client.get("/docs"), await client.get("/redoc")
    assert_every_answer_header(docs)
    policy = docs.headers["Content-Security-Policy"]
    assert "https://cdn.jsdelivr.net" in policy and "connect-src 'self'" in policy
    assert inline_script_hash(docs.text) in policy  # Swagger UI's start, built from the app's settings
    script_sources = policy.split("script-src")[1].split(";")[0]
    assert "'unsafe-inline'" not in script_sources and "'unsafe-eval'" not in script_sources
    assert "SwaggerUIBundle" in docs.text  # the page itself is intact
    assert "https://fonts.googleapis.com" in redoc.headers["Content-Security-Policy"]


def test_only_inline_scripts_are_hashed_not_loaded_ones() -> None:
    html = b"<script src='https://cdn.example/x.js'></script><script>go()</script>"
    policy = with_script_hashes("default-src 'none'; script-src 'self'", html)
    expected = base64.b64encode(hashlib.sha256(b"go()").digest()).decode()
    assert policy == f"default-src 'none'; script-src 'sha256-{expected}' 'self'"


def test_only_the_asyncapi_page_may_evaluate_strings_its_renderer_compiles_schemas() -> None:
    assert "'unsafe-eval'" in ASYNCAPI_PAGE_POLICY and "'unsafe-eval'" not in DOCS_PAGE_POLICY
    assert ASYNCAPI_PAGE_POLICY.replace(" 'unsafe-eval'", "") == DOCS_PAGE_POLICY


async def test_an_answer_to_a_request_with_credentials_is_not_stored() -> None:
    async with client_for(app_with_headers()) as client:
        answer = await client.get("/things/1", headers={"Authorization": "Bearer x"})
        refused = await client.get("/things/x", headers={"Authorization": "Bearer x"})
    assert answer.headers["Cache-Control"] == "no-store"
    assert refused.headers["Cache-Control"] == "no-store"


async def test_strict_transport_security_only_when_served_over_https() -> None:
    settings = HttpEdgeSettings(served_over_https=True, hsts_max_age_seconds=600)
    async with client_for(app_with_headers(settings)) as client:
        answer = await client.get("/nowhere")
    assert answer.headers["Strict-Transport-Security"] == "max-age=600; includeSubDomains"


async def test_a_route_s_own_policy_is_kept() -> None:
    app = app_with_headers()

    @app.get("/own", response_class=HTMLResponse)
    async def own() -> HTMLResponse:
        return HTMLResponse("<p>", headers={"Content-Security-Policy": "default-src 'self'"})

    async with client_for(app) as client:
        answer = await client.get("/own")
    assert answer.headers.get_list("Content-Security-Policy") == ["default-src 'self'"]
