"""HTTP routes: parse, authorize the role, call one use case, answer. A subscriber (a platform
or agency token naming its organisation) sees and changes only its own endpoints, watchlists,
deliveries and changes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from conformity_shared.auth import Principal, Role, require
from conformity_shared.errors import DomainError
from conformity_shared.runtime import RuntimeDep

from notifications import service
from notifications.domain.delivery import DeliveryStatus
from notifications.domain.watchlists import MAX_WATCHED_CERTIFICATES, WatchKind

endpoints = APIRouter(prefix="/endpoints", tags=["endpoints"])
watchlist = APIRouter(prefix="/watchlist", tags=["watchlist"])
deliveries = APIRouter(prefix="/deliveries", tags=["deliveries"])
feed = APIRouter(prefix="/changes", tags=["change feed"])

Subscriber = Annotated[Principal, Depends(require(Role.PLATFORM, Role.AGENCY))]


class NewEndpoint(BaseModel):
    url: str = Field(min_length=1, max_length=2000, description="https:// on a public address (plain http to "
                     "loopback in development only)")
    description: str | None = Field(default=None, max_length=300)


class WatchValues(BaseModel):
    kind: WatchKind
    # The size rule is the service's, so that the 422 names the watchlist limit; maxItems documents it.
    values: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(
        min_length=1, json_schema_extra={"maxItems": MAX_WATCHED_CERTIFICATES},
        description="certificate numbers, USCCs of holders or issuing bodies, or scheme names",
    )


class Replay(BaseModel):
    delivery_ids: list[str] | None = Field(default=None, max_length=10_000)
    endpoint_id: str | None = Field(default=None, description="every given-up delivery of this endpoint")


@endpoints.post("", status_code=201, summary="Register a webhook endpoint (its secret is in the answer)")
async def create_endpoint(body: NewEndpoint, principal: Subscriber, runtime: RuntimeDep) -> dict:
    return await service.create_endpoint(runtime, principal, body.url, body.description)


@endpoints.get("", summary="Your endpoints")
async def list_endpoints(principal: Subscriber, runtime: RuntimeDep) -> dict:
    return await service.list_endpoints(runtime, principal)


@endpoints.get("/{endpoint_id}", summary="One endpoint (with its secret)")
async def get_endpoint(endpoint_id: str, principal: Subscriber, runtime: RuntimeDep) -> dict:
    return await service.get_endpoint(runtime, principal, endpoint_id, with_secret=True)


@endpoints.post("/{endpoint_id}/rotate-secret", summary="New secret; the old one signs beside it during the overlap")
async def rotate_secret(endpoint_id: str, principal: Subscriber, runtime: RuntimeDep) -> dict:
    return await service.rotate_secret(runtime, principal, endpoint_id)


@endpoints.post("/{endpoint_id}/enable", summary="Enable a disabled endpoint; its backlog goes out")
async def enable_endpoint(endpoint_id: str, principal: Subscriber, runtime: RuntimeDep) -> dict:
    return await service.enable_endpoint(runtime, principal, endpoint_id)


@watchlist.post("", summary="Watch certificates, holders, issuing bodies or schemes (bulk)")
async def add_watches(body: WatchValues, principal: Subscriber, runtime: RuntimeDep) -> dict:
    return await service.add_watches(runtime, principal, body.kind, body.values)


@watchlist.post("/remove", summary="Stop watching (bulk)")
async def remove_watches(body: WatchValues, principal: Subscriber, runtime: RuntimeDep) -> dict:
    return await service.remove_watches(runtime, principal, body.kind, body.values)


@watchlist.get("", summary="What you watch, one kind at a time, paged")
async def list_watches(principal: Subscriber, runtime: RuntimeDep, kind: WatchKind = WatchKind.CERTIFICATE,
                       after: str = "", limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> dict:
    return await service.list_watches(runtime, principal, kind, after, limit)


@deliveries.get("", summary="Your deliveries: status, attempts, last error")
async def list_deliveries(
    principal: Subscriber, runtime: RuntimeDep, status: DeliveryStatus | None = None, endpoint_id: str | None = None,
    certificate_number: str | None = None, after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict:
    return await service.list_deliveries(runtime, principal, status=status, endpoint_id=endpoint_id,
                                         certificate_number=certificate_number, after=after, limit=limit)


@deliveries.get("/{delivery_id}", summary="One delivery with its payload and every attempt")
async def get_delivery(delivery_id: str, principal: Subscriber, runtime: RuntimeDep) -> dict:
    return await service.get_delivery(runtime, principal, delivery_id)


@deliveries.post("/replay", summary="Send deliveries again, with the same webhook-id")
async def replay(body: Replay, principal: Subscriber, runtime: RuntimeDep) -> dict:
    if not body.delivery_ids and not body.endpoint_id:
        raise DomainError("name the deliveries (delivery_ids) or an endpoint (endpoint_id)", "delivery_ids",
                          [{"rule": "nothing_to_replay", "detail": "one of delivery_ids, endpoint_id"}])
    return await service.replay(runtime, principal, body.delivery_ids, body.endpoint_id)


@feed.get("", summary="Changes of what you watch, from a durable cursor, paged")
async def changes(principal: Subscriber, runtime: RuntimeDep, cursor: str | None = None,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict:
    return await service.changes(runtime, principal, cursor, limit)


@feed.get("/stream", summary="The same changes live, as server-sent events (Last-Event-ID resumes)")
async def stream(principal: Subscriber, runtime: RuntimeDep, cursor: str | None = None,
                 last_event_id: Annotated[str | None, Header()] = None) -> StreamingResponse:
    service.subscriber_of(principal)
    return StreamingResponse(service.stream(runtime, principal, last_event_id or cursor),
                             media_type="text/event-stream", headers={"cache-control": "no-cache"})
