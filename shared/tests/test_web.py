"""The platform's HTTP rules that every service shares."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from conformity_shared import web


class Note(BaseModel):
    text: str


def app_with_text_rules() -> FastAPI:
    app = FastAPI()
    web.install_text_rules(app)

    @app.get("/rounds")
    async def rounds(field: str | None = None) -> dict:
        return {"field": field}

    @app.post("/notes")
    async def notes(note: Note) -> dict:
        return {"text": note.text}

    return app


@pytest.fixture
async def client():  # noqa: ANN201
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app_with_text_rules()), base_url="http://t") as c:
        yield c


async def test_a_nul_character_in_a_query_parameter_is_refused_naming_it(client: httpx.AsyncClient) -> None:
    answer = await client.get("/rounds", params={"field": "\x00"})
    assert answer.status_code == 422
    assert answer.json()["field"] == "field"
    assert answer.json()["failed_rules"][0]["rule"] == "no_nul_character"


async def test_a_nul_character_in_a_json_body_is_refused(client: httpx.AsyncClient) -> None:
    answer = await client.post("/notes", json={"text": "a\x00b"})
    assert answer.status_code == 422
    assert answer.json()["field"] == "body"


async def test_ordinary_requests_pass_with_their_body_intact(client: httpx.AsyncClient) -> None:
    assert (await client.get("/rounds", params={"field": "TL-FOOD"})).json() == {"field": "TL-FOOD"}
    assert (await client.post("/notes", json={"text": "检测 ok"})).json() == {"text": "检测 ok"}
