"""The dashboard's routes: the page, the live stream (server-sent events) and the page's queries."""

from __future__ import annotations

from collections.abc import AsyncIterable
from html import escape
from importlib import resources
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent

from conformity_shared.auth import Principal
from conformity_operators import catalogue
from conformity_operators.dashboard.access import DASHBOARD_ROLES, Viewer, signed_in
from conformity_operators.dashboard.visibility import lens_of
from conformity_operators.dashboard.feed import BrokerFeed
from conformity_operators.dashboard.index import EventIndex
from conformity_operators.errors import ServiceUnreachable
from conformity_operators.settings import DashboardSettings

router = APIRouter()

STREAM_BATCH = 200
IDLE_SECONDS = 10.0


def _index(request: Request) -> EventIndex:
    return request.app.state.index


def _feed(request: Request) -> BrokerFeed:
    return request.app.state.feed


def _settings(request: Request) -> DashboardSettings:
    return request.app.state.settings


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def page(principal: Annotated[Principal | None, Depends(signed_in)]) -> Response:
    """The page, for a regulator or an operator; anyone else is sent to sign in first."""
    if principal is None:
        return RedirectResponse("/auth/sign-in?next=/", status_code=303)
    if principal.role not in DASHBOARD_ROLES:
        return HTMLResponse(
            f"<!doctype html><meta charset='utf-8'><title>Not for this role</title><h1>Not for this role</h1>"
            f"<p>The dashboard is for regulators and operators; you are signed in as {escape(principal.role)}.</p>"
            "<form method='post' action='/auth/sign-out'><button>Sign out</button></form>", status_code=403)
    html = (resources.files("conformity_operators.dashboard") / "static" / "index.html").read_text("utf-8")
    return HTMLResponse(html.replace("{{viewer}}", escape(f"{principal.role} · {principal.subject}")))


@router.get("/health", summary="The dashboard answers; whether it reads the broker")
async def health(request: Request) -> dict[str, Any]:
    feed = _feed(request)
    return {"service": "dashboard", "status": "ok", "broker": feed.status, "events": _index(request).total}


@router.get("/api/status", summary="Broker connection, events read, and the services' documents")
async def status(request: Request, _viewer: Viewer) -> dict[str, Any]:
    feed, index, settings = _feed(request), _index(request), _settings(request)
    return {
        "broker": feed.status,
        "problem": feed.problem,
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "consumer_group": feed.group_id,
        "events": index.total,
        "kept": index.last_seq,
        "services": [
            {"name": name, "url": url, "asyncapi": f"/static/asyncapi.html?service={name}",
             "asyncapi_json": f"{url}/asyncapi.json", "asyncapi_original": f"{url}/asyncapi", "openapi": f"{url}/docs"}
            for name, url in settings.service_urls().items()
        ],
    }


@router.get("/api/counts", summary="Events read per type")
async def counts(request: Request, _viewer: Viewer) -> dict[str, int]:
    return dict(sorted(_index(request).counts.items()))


@router.get("/api/events", summary="Kept events after a sequence number, oldest first")
async def events(
    request: Request,
    viewer: Viewer,
    after: int = 0,
    limit: Annotated[int, Query(ge=1, le=2000)] = 200,
) -> list[dict[str, Any]]:
    index = _index(request)
    lens = lens_of(viewer.role)
    return [index.describe(seq, view, lens) for seq, view in index.since(after, limit)]


@router.get("/api/stream", response_class=EventSourceResponse, summary="Live events (server-sent events)")
async def stream(
    request: Request,
    viewer: Viewer,
    last_event_id: Annotated[str | None, Header()] = None,
) -> AsyncIterable[ServerSentEvent]:
    """The newest events first (a backlog), then each event as it is read; resumes after Last-Event-ID."""
    index, lens = _index(request), lens_of(viewer.role)
    cursor = int(last_event_id) if last_event_id and last_event_id.isdigit() else max(
        index.last_seq - _settings(request).dashboard_backlog, 0
    )
    while True:
        batch = index.since(cursor, STREAM_BATCH)
        for seq, view in batch:
            yield ServerSentEvent(data=index.describe(seq, view, lens), event="event", id=str(seq))
            cursor = seq
        if not batch:
            if await request.is_disconnected():
                return
            await index.wait(IDLE_SECONDS)


@router.get("/api/search", summary="History of a certificate number or organisation (USCC) across services")
async def search(request: Request, viewer: Viewer, q: Annotated[str, Query(min_length=3, max_length=100)]) -> dict[str, Any]:
    index = _index(request)
    found = index.search(q, lens=lens_of(viewer.role))
    query = q.strip().upper()
    return {"query": query, "name": index.names.names.get(query), "events": found}


@router.get("/api/trace/{ident}", summary="The causal tree of a correlation id (or of an event's chain)")
async def trace(request: Request, viewer: Viewer, ident: str) -> dict[str, Any]:
    index = _index(request)
    found = index.trace(ident, lens_of(viewer.role))
    if found is None:
        raise HTTPException(404, f"no event read so far has the correlation id or event id {ident}")
    return found.to_json(index.names, index.deliveries.summary)


@router.get("/api/deliveries/{event_id}", summary="The webhooks an event caused (a suspension's), page by page")
async def deliveries(
    request: Request,
    _viewer: Viewer,
    event_id: str,
    status: Annotated[str | None, Query(pattern="^(delivered|retrying|given_up)$")] = None,
    after: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Each delivery's webhook-id, endpoint id, subscriber (USCC), certificate, status and attempts;
    never an endpoint's URL or secret (the events do not carry them)."""
    ledger = _index(request).deliveries
    if ledger.summary(event_id) is None:
        raise HTTPException(404, f"no webhook delivery read so far was caused by the event {event_id}")
    return ledger.page(event_id, status=status, after=after, limit=limit)


@router.get("/api/asyncapi/{service}", summary="A service's AsyncAPI document, fetched for the offline viewer")
async def asyncapi(request: Request, _viewer: Viewer, service: str) -> Any:
    """Fetched here because the page may not read another origin; rendered by /static/asyncapi.html
    (the services' own /asyncapi page loads its renderer from a CDN, which needs the internet)."""
    urls = _settings(request).service_urls()
    if service not in urls:
        raise HTTPException(404, f"no service {service}; known: {', '.join(urls)}")
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            answer = await client.get(f"{urls[service]}/asyncapi.json")
            answer.raise_for_status()
    except httpx.HTTPError as exc:
        raise HTTPException(
            502, f"{ServiceUnreachable(service, urls[service], exc.__class__.__name__).message}"
        ) from None
    return answer.json()


@router.get("/catalogue", response_class=PlainTextResponse, summary="The events catalogue (Markdown)")
async def events_catalogue(_viewer: Viewer) -> PlainTextResponse:
    return PlainTextResponse(catalogue.render(), media_type="text/plain; charset=utf-8")
