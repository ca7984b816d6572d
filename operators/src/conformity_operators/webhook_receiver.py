"""A local webhook receiver that verifies Standard Webhooks signatures (`conformity
webhook-receiver`): for trying the notifications service on one machine, and for the tests and
the benchmark, which also make it fail a share of requests, answer slowly, or stop and start.

Verification is the reference library's (`standardwebhooks`): the signature over
`{webhook-id}.{webhook-timestamp}.{body}` with any of the endpoint's secrets (a rotation sends
two), and a timestamp within five minutes. A bad signature answers 400 and is counted, never kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass(frozen=True)
class Receipt:
    """One request that carried a valid signature, in arrival order, and what was answered."""

    webhook_id: str
    body: bytes
    status: int
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """An ASGI app on 127.0.0.1:`port` (`url`); `secrets` are set once the endpoint is registered."""

    port: int
    secrets: list[str] = field(default_factory=list)
    fail_ratio: float = 0.0  # this share of verified requests answers 500 (after being received)
    delay_seconds: float = 0.0
    seed: int = 0
    on_receipt: Callable[[Receipt], None] | None = None
    receipts: list[Receipt] = field(default_factory=list)
    bad_signatures: int = 0
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhooks"

    def accepted(self) -> list[Receipt]:
        return [r for r in self.receipts if 200 <= r.status < 300]

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        status = self._verified(body, headers)
        if status == 204:
            if self.delay_seconds:
                await asyncio.sleep(self.delay_seconds)
            if self._rng.random() < self.fail_ratio:
                status = 500
            receipt = Receipt(headers["webhook-id"], body, status, time.monotonic())
            self.receipts.append(receipt)
            if self.on_receipt:
                self.on_receipt(receipt)
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    def _verified(self, body: bytes, headers: dict[str, str]) -> int:
        for secret in self.secrets:
            try:
                Webhook(secret).verify(body, headers, json_parse=False)
                return 204
            except WebhookVerificationError:
                continue
        self.bad_signatures += 1
        return 400

    async def start(self) -> Receiver:
        config = uvicorn.Config(self, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off",
                                access_log=False, timeout_keep_alive=30)
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.02)
        return self

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._server = self._task = None


async def serve_forever(port: int, secrets: list[str], fail_ratio: float, delay_seconds: float,
                        show: Callable[[Receipt], None]) -> None:
    """`conformity webhook-receiver`: receive until interrupted, showing each delivery."""
    receiver = Receiver(port, secrets, fail_ratio=fail_ratio, delay_seconds=delay_seconds, on_receipt=show)
    await receiver.start()
    try:
        await asyncio.Event().wait()
    finally:
        await receiver.stop()
