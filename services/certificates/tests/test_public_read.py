"""The lean public read path answers byte for byte what the previous path answered.

The previous path is rebuilt here as it was: an ORM session per request (db.public_row/s), the
route's dict rendered by FastAPI, and the correlation id and NUL rules as Starlette
`BaseHTTPMiddleware`s. Both apps serve the same database; every answer is compared whole:
status, every header in order, and the body's bytes."""

from __future__ import annotations

import datetime as dt
import sqlite3
import uuid
from typing import Any

import httpx
import pytest
import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from conformity_devstack import testing
from conformity_shared import request_rules
from conformity_shared.auth import Role
from conformity_shared.envelope import causal_context
from conformity_shared.rate_limits import client_of
from conformity_shared.runtime import RuntimeDep, ServiceRuntime

from certificates import api, db, loader, public_read
from certificates.app import create_app, create_public_app
from certificates.service import views
from certificates.settings import CertificatesSettings

# Quotes, a backslash, a control character, a tab, non-ASCII and an astral character: what the
# two JSON encoders could escape differently.
AWKWARD_NAME = 'Zhèjiāng "Kettle" Works \\ 检测\x01\tline\u2028 😀 <&>'
FIXED_CLOCK = 1_000_000.25  # both apps' rate limits see the same time, so their budgets match


async def _old_verify(runtime: ServiceRuntime, number: str) -> dict[str, Any]:
    number = views._normalised(number)
    async with runtime.sessions() as session:
        row = await db.public_row(session, number)
    if row is None:
        raise views.NotFound(f"no certificate numbered {number}", field="number")
    return views._summary(row)


async def _old_verify_many(runtime: ServiceRuntime, numbers: list[str]) -> dict[str, Any]:
    if len(numbers) > views.MAX_VERIFY_BATCH:
        raise views.DomainError(
            f"at most {views.MAX_VERIFY_BATCH} numbers per request, {len(numbers)} given", field="numbers"
        )
    wanted = list(dict.fromkeys(views._normalised(n) for n in numbers))
    async with runtime.sessions() as session:
        rows = await db.public_rows(session, wanted)
    found = {r.number: views._summary(r) for r in rows}
    results = [found.get(n, {"number": n, "status": views.UNKNOWN}) for n in wanted]
    return {"count": len(results), "unknown": len(results) - len(found), "results": results}


def _old_public_router() -> APIRouter:
    old = APIRouter(prefix="/public/certificates", tags=["public verification"])

    @old.get("/{number}")
    async def verify(number: str, runtime: RuntimeDep) -> dict:
        return await _old_verify(runtime, number)

    @old.post("/verify")
    async def verify_batch(body: api.VerifyBatch, request: Request, runtime: RuntimeDep) -> dict:
        request.app.state.verify_numbers_limit.charge(client_of(request.scope), len(body.numbers))
        return await _old_verify_many(runtime, body.numbers)

    return old


def _old_middlewares(app: FastAPI) -> None:
    """web.install_text_rules and web.install_correlation as they were."""
    app.user_middleware = [m for m in app.user_middleware
                           if m.cls not in (request_rules.Correlation, request_rules.NoNulCharacters)]

    @app.middleware("http")
    async def no_nul_characters(request: Request, call_next):  # noqa: ANN001, ANN202
        where = request_rules.nul_in_path_or_query(request.scope)
        if where is None and request.headers.get("content-type", "").startswith("application/json") \
                and b"\\u0000" in await request.body():
            where = "body"
        if where is None:
            return await call_next(request)
        message = f"{where} contains the NUL character (U+0000), which no text of the platform may hold"
        return JSONResponse(
            {"detail": message, "field": where, "failed_rules": [{"rule": "no_nul_character", "detail": message}]},
            status_code=422,
        )

    @app.middleware("http")
    async def correlation(request: Request, call_next):  # noqa: ANN001, ANN202
        correlation_id = request.headers.get(request_rules.CORRELATION_HEADER) or str(uuid.uuid4())
        with causal_context(correlation_id, correlation_id), structlog.contextvars.bound_contextvars(
            correlation_id=correlation_id, path=request.url.path
        ):
            response = await call_next(request)
        response.headers[request_rules.CORRELATION_HEADER] = correlation_id
        return response


def _previous_app(settings: CertificatesSettings) -> FastAPI:
    app = create_app(settings)
    app.router.routes = [r for r in app.router.routes if not getattr(r, "path", "").startswith("/public/")]
    app.include_router(_old_public_router())
    _old_middlewares(app)
    return app


def _freeze_limits(app: FastAPI) -> None:
    for limit in (app.state.public_rate_limit, app.state.verify_numbers_limit):
        limit.clock = lambda: FIXED_CLOCK


@pytest.fixture
async def data_set(runtime: ServiceRuntime, today: dt.date) -> dict[str, str]:
    """300 certificates of the loader's mix; one number per status, one holder named awkwardly."""
    await loader.load(runtime.settings.resolved_database_url(), 300, seed=7, today=today - dt.timedelta(days=400))
    path = runtime.engine.url.database
    with sqlite3.connect(path) as conn:
        by_status = dict(conn.execute("SELECT status, min(number) FROM certificates GROUP BY status").fetchall())
        conn.execute("UPDATE certificates SET holder_name = ? WHERE number = ?", (AWKWARD_NAME, by_status["valid"]))
        # A change on a whole second: isoformat leaves the microseconds out.
        conn.execute("UPDATE certificates SET last_change_at = '2026-03-04 05:06:07.000000' WHERE number = ?",
                     (by_status["suspended"],))
    return by_status


@pytest.fixture
async def both(app: FastAPI, settings: CertificatesSettings, data_set: dict[str, str]):  # noqa: ANN201
    previous = _previous_app(settings)
    _freeze_limits(app)
    _freeze_limits(previous)
    async with testing.client_of(app) as lean, testing.client_of(previous) as old:
        yield lean, old
    await previous.state.runtime.engine.dispose()
    app.state.runtime.context.reader.close()


def _whole(answer: httpx.Response) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    return answer.status_code, answer.headers.raw, answer.content


async def _same(both: tuple[httpx.AsyncClient, httpx.AsyncClient], method: str, url: str, **kwargs: Any) -> bytes:
    lean, old = both
    headers = {"X-Correlation-ID": "compare-1", **kwargs.pop("headers", {})}
    new_answer = await lean.request(method, url, headers=headers, **kwargs)
    old_answer = await old.request(method, url, headers=headers, **kwargs)
    assert _whole(new_answer) == _whole(old_answer)
    return new_answer.content


async def test_one_number_found_in_every_status_is_answered_byte_for_byte_as_before(
    both: tuple[httpx.AsyncClient, httpx.AsyncClient], data_set: dict[str, str]
) -> None:
    assert {"valid", "suspended", "withdrawn"} <= set(data_set)
    for status, number in data_set.items():
        body = await _same(both, "GET", f"/public/certificates/{number}")
        assert f'"status":"{status}"'.encode() in body
    awkward = await _same(both, "GET", f"/public/certificates/{data_set['valid'].lower()}%20")
    assert AWKWARD_NAME.encode() not in awkward and "Zhèjiāng".encode() in awkward  # escaped alike, not raw


async def test_a_number_not_found_is_answered_byte_for_byte_as_before(
    both: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    body = await _same(both, "GET", "/public/certificates/MSC2026AAAA00000001")
    assert b"MSC2026AAAA00000001" in body
    await _same(both, "GET", "/public/certificates/%00x")  # the NUL rule's 422
    await _same(both, "GET", "/public/certificates/verify")  # the batch route's path, asked by GET
    await _same(both, "HEAD", "/public/certificates/MSC2026AAAA00000001")  # 405, as before
    await _same(both, "DELETE", "/public/certificates/MSC2026AAAA00000001")


async def test_batches_are_answered_byte_for_byte_as_before(
    both: tuple[httpx.AsyncClient, httpx.AsyncClient], data_set: dict[str, str]
) -> None:
    asked = [data_set["withdrawn"], "MSC2026AAAA00000001", data_set["valid"], " " + data_set["suspended"].lower(),
             "not a number", data_set["withdrawn"]]
    body = await _same(both, "POST", "/public/certificates/verify", json={"numbers": asked})
    assert b'"count":5,"unknown":2,' in body
    await _same(both, "POST", "/public/certificates/verify", json={"numbers": [data_set["valid"]] * 1001})
    await _same(both, "POST", "/public/certificates/verify", json={"numbers": []})
    await _same(both, "POST", "/public/certificates/verify", json={"numbers": ["a\x00"]})


async def test_a_request_without_a_correlation_id_gets_a_new_one_on_both_paths(
    both: tuple[httpx.AsyncClient, httpx.AsyncClient], data_set: dict[str, str]
) -> None:
    lean, old = both
    new_answer = await lean.get(f"/public/certificates/{data_set['valid']}")
    old_answer = await old.get(f"/public/certificates/{data_set['valid']}")
    ids = [a.headers["x-correlation-id"] for a in (new_answer, old_answer)]
    assert all(uuid.UUID(i) for i in ids) and ids[0] != ids[1]
    without_id = [[h for h in a.headers.raw if h[0] != b"x-correlation-id"] for a in (new_answer, old_answer)]
    assert without_id[0] == without_id[1] and new_answer.content == old_answer.content


async def test_the_public_reader_process_answers_as_the_service_does_and_serves_nothing_else(
    app: FastAPI, settings: CertificatesSettings, data_set: dict[str, str]
) -> None:
    reader = create_public_app(settings)
    _freeze_limits(app)
    _freeze_limits(reader)
    asked = {"numbers": [data_set["suspended"], "MSC2026AAAA00000001"]}
    async with testing.client_of(app) as service, testing.client_of(reader) as public:
        for pair in ((service, public),):
            await _same(pair, "GET", f"/public/certificates/{data_set['withdrawn']}")
            await _same(pair, "GET", "/public/certificates/MSC2026AAAA00000001")
            await _same(pair, "POST", "/public/certificates/verify", json=asked)
        assert (await public.get("/certificates", headers=testing.token(Role.REGULATOR))).status_code == 404
        health = await public.get("/health")
        assert health.status_code == 200 and health.json()["database"] == "ok"
    await reader.state.runtime.engine.dispose()
    reader.state.runtime.context.reader.close()


@pytest.mark.parametrize("stored", ["2026-01-02 03:04:05.000000", "2026-01-02 03:04:05.123456", "2026-01-02 03:04:05",
                                    "2026-01-02T03:04:05.5"])
def test_stored_timestamps_read_back_as_sqlalchemy_reads_them(stored: str) -> None:
    assert public_read._stamp(stored) == dt.datetime.fromisoformat(stored).replace(tzinfo=dt.UTC).isoformat()
