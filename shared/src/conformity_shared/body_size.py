"""Request body size limit, checked before any route reads the body.

A declared Content-Length over the limit is answered at once; a body that arrives without one
(chunked) is counted as it streams and cut off where it passes the limit: the client gets the
413, and the app behind sees a disconnected client.
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def too_large(limit: int) -> JSONResponse:
    message = f"the request body is larger than the limit of {limit} bytes"
    return JSONResponse(
        {"detail": message, "limit_bytes": limit, "failed_rules": [{"rule": "max_request_body_bytes", "detail": message}]},
        status_code=413,
        headers={"Connection": "close"},  # the rest of the body is not read: the connection cannot be reused
    )


def declared_length(scope: Scope) -> tuple[int | None, bool]:
    """(Content-Length if declared and valid, whether the request has a body at all)."""
    length, chunked = None, False
    for name, value in scope["headers"]:
        if name == b"content-length":
            length = int(value) if value.isdigit() else None
        elif name == b"transfer-encoding":
            chunked = True
    return length, length is not None or chunked


class BodySizeLimit:
    """Pure ASGI: refuse with 413 a request whose body is over `max_bytes`."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length, has_body = declared_length(scope)
        if not has_body:  # neither Content-Length nor Transfer-Encoding: HTTP/1.1 says no body
            await self.app(scope, receive, send)
            return
        if length is not None and length > self.max_bytes:
            await too_large(self.max_bytes)(scope, receive, send)
            return
        await CountedBody(self, scope, receive, send).run()


class CountedBody:
    """One request whose body is counted as the app reads it."""

    def __init__(self, limit: BodySizeLimit, scope: Scope, receive: Receive, send: Send) -> None:
        self.limit, self.scope, self.outer_receive, self.outer_send = limit, scope, receive, send
        self.received = 0
        self.started = False  # the app has begun its answer: a 413 can no longer be sent
        self.refused = False  # the 413 went out: whatever the app sends after it is dropped

    async def run(self) -> None:
        try:
            await self.limit.app(self.scope, self.receive, self.send)
        except Exception:
            if not self.refused:
                raise
            # The app failed on the body it was denied (a "client disconnected"): already answered.

    async def receive(self) -> Message:
        if self.refused:
            return {"type": "http.disconnect"}
        message = await self.outer_receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit.max_bytes:
                await self.refuse()
                return {"type": "http.disconnect"}
        return message

    async def refuse(self) -> None:
        self.refused = True
        if not self.started:
            await too_large(self.limit.max_bytes)(self.scope, self.outer_receive, self.outer_send)

    async def send(self, message: Message) -> None:
        if self.refused:
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self.outer_send(message)
