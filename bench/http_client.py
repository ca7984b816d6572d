"""A lean HTTP/1.1 keep-alive client for the timed requests.

Hand-written because the load generator shares this 2-core machine with the server: httpx
spent about 1.6 ms of CPU per request here (78% of a core at 480 requests/s), as much as the
service under test, while this costs a few tens of microseconds. It speaks just what the
benchmarks send (GET, POST of JSON) and reads Content-Length or chunked answers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit


class HttpError(RuntimeError):
    pass


class Connection:
    """One persistent connection; requests on it are sequential (use one per concurrent worker)."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> Connection:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._writer:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except ConnectionError:
                pass

    async def request(self, method: str, path: str, body: Any = None,
                      headers: Mapping[str, str] | None = None) -> tuple[int, bytes]:
        assert self._reader is not None and self._writer is not None
        payload = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
        status_line = await self._reader.readline()
        if not status_line:
            raise HttpError("connection closed by the server")
        status = int(status_line.split(b" ", 2)[1])
        length, chunked = None, False
        while True:
            line = await self._reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if chunked:
            parts = []
            while True:
                size = int((await self._reader.readline()).split(b";")[0], 16)
                if size == 0:
                    await self._reader.readline()
                    break
                parts.append(await self._reader.readexactly(size))
                await self._reader.readline()
            return status, b"".join(parts)
        return status, await self._reader.readexactly(length or 0)
