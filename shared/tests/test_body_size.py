"""The request body size limit: by Content-Length, and while a body without one streams in."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI, Request
from pydantic import BaseModel

from conformity_shared import web
from conformity_shared.body_size import BodySizeLimit
from conformity_shared.settings import HttpEdgeSettings

LIMIT = 1024


class Numbers(BaseModel):
    numbers: list[str]


def app_with_limit(read: list[int]) -> FastAPI:
    app = FastAPI()
    web.install_edge(app, HttpEdgeSettings(max_request_body_bytes=LIMIT))
    web.install_text_rules(app)  # reads JSON bodies itself, before the route

    @app.post("/public/verify")
    async def verify(body: Numbers) -> dict:
        return {"n": len(body.numbers)}

    @app.post("/raw")
    async def raw(request: Request) -> dict:
        async for chunk in request.stream():
            read.append(len(chunk))
        return {"read": sum(read)}

    return app


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_a_body_within_the_limit_reaches_the_route() -> None:
    async with client_for(app_with_limit([])) as client:
        answer = await client.post("/public/verify", json={"numbers": ["A"] * 100})
        assert answer.status_code == 200 and answer.json() == {"n": 100}


async def test_a_declared_content_length_over_the_limit_is_refused_413_naming_the_limit() -> None:
    read: list[int] = []
    async with client_for(app_with_limit(read)) as client:
        answer = await client.post("/raw", content=b"x" * (LIMIT + 1))
    assert answer.status_code == 413
    assert answer.json()["limit_bytes"] == LIMIT
    assert f"limit of {LIMIT} bytes" in answer.json()["detail"]
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert read == []  # the route never ran


async def chunks(count: int, size: int = 256) -> AsyncIterator[bytes]:
    for _ in range(count):
        yield b"x" * size


async def test_a_chunked_body_without_content_length_is_cut_off_where_it_passes_the_limit() -> None:
    read: list[int] = []
    async with client_for(app_with_limit(read)) as client:
        answer = await client.post("/raw", content=chunks(100))  # 25 KB, no Content-Length
    assert answer.status_code == 413
    assert answer.json()["limit_bytes"] == LIMIT
    assert sum(read) <= LIMIT  # the route saw no byte past the limit


async def test_a_chunked_json_body_past_the_limit_is_refused_before_any_middleware_buffers_it() -> None:
    async with client_for(app_with_limit([])) as client:
        answer = await client.post("/public/verify", content=chunks(100), headers={"Content-Type": "application/json"})
    assert answer.status_code == 413


async def test_a_chunked_body_within_the_limit_is_read_whole() -> None:
    read: list[int] = []
    async with client_for(app_with_limit(read)) as client:
        answer = await client.post("/raw", content=chunks(4))
    assert answer.status_code == 200 and answer.json() == {"read": 1024}


async def test_a_request_without_a_body_passes_unwrapped() -> None:
    calls = []

    async def inner(scope, receive, send):  # noqa: ANN001, ANN202
        calls.append(receive)

    async def receive():  # noqa: ANN202
        return {"type": "http.request", "body": b""}

    await BodySizeLimit(inner, LIMIT)({"type": "http", "headers": [(b"host", b"t")]}, receive, None)
    assert calls == [receive]
