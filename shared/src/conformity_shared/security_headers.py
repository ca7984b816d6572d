"""Security headers on every HTTP answer, errors and 404s included.

JSON and everything else that is not a page gets a policy that allows nothing (`default-src
'none'`). An HTML page may run only its app's own files; the documentation pages (FastAPI's
/docs and /redoc, FastStream's /asyncapi) load their renderers from CDNs and run inline scripts
built from the app's own configuration: those scripts are hashed into that answer's policy, so
no other inline script can run on any page.
"""

from __future__ import annotations

import base64
import hashlib
import re
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NOTHING_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

# The services' documentation pages: Swagger UI and ReDoc (FastAPI) from jsDelivr, the AsyncAPI
# renderer (FastStream) from unpkg, ReDoc's fonts from Google Fonts; the pages fetch only their own
# service (the OpenAPI document, Swagger UI's "try it out"). The renderers set inline styles.
DOCS_PAGE_POLICY = (
    "default-src 'none'; "
    "script-src 'self' https://cdn.jsdelivr.net https://unpkg.com; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://unpkg.com https://fonts.googleapis.com; "
    "font-src https://fonts.gstatic.com; "
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly https://www.asyncapi.com; "
    "connect-src 'self'; worker-src 'self' blob:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
# Pages made only of the app's own files (the dashboard): its scripts, styles and event stream.
OWN_FILES_PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# FastStream's AsyncAPI renderer validates the document with ajv, which compiles its schemas
# into functions (`new Function`): that page alone may evaluate strings.
ASYNCAPI_PAGE_POLICY = DOCS_PAGE_POLICY.replace("script-src", "script-src 'unsafe-eval'", 1)
DOCS_PAGES = {"/docs": DOCS_PAGE_POLICY, "/docs/oauth2-redirect": DOCS_PAGE_POLICY, "/redoc": DOCS_PAGE_POLICY,
              "/asyncapi": ASYNCAPI_PAGE_POLICY}

NOTHING, OWN_FILES_PAGE = NOTHING_POLICY.encode(), OWN_FILES_PAGE_POLICY.encode()
INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)


def with_script_hashes(policy: str, html: bytes) -> str:
    """`policy` with the SHA-256 of each inline script of `html` added to its script-src."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"
        for script in INLINE_SCRIPT.findall(html)
    )
    return policy.replace("script-src", f"script-src {hashes}", 1) if hashes else policy


class SecurityHeaders:
    """Pure ASGI: adds the headers to the start of every answer; `hsts_max_age` (when served over
    HTTPS) adds Strict-Transport-Security."""

    def __init__(self, app: ASGIApp, hsts_max_age: int | None = None) -> None:
        self.app = app
        self.common = [
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"cross-origin-resource-policy", b"same-origin"),
        ]
        if hsts_max_age is not None:
            self.common.append((b"strict-transport-security", f"max-age={hsts_max_age}; includeSubDomains".encode()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, Answer(self, scope, send).send)


class Answer:
    """One answer on its way out: its start gets the headers; a documentation page is held until
    its body is complete, so that its inline scripts can be hashed."""

    __slots__ = ("common", "outer_send", "path", "private", "start", "docs_policy", "held")

    def __init__(self, config: SecurityHeaders, scope: Scope, send: Send) -> None:
        self.common, self.outer_send, self.path = config.common, send, scope["path"]
        # An answer to a request with credentials is that caller's alone: no cache may keep it.
        self.private = any(name == b"authorization" or name == b"cookie" for name, _ in scope["headers"])
        self.start: Message | None = None
        self.docs_policy = ""
        self.held: list[Message] = []

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            if self.add_headers(message):
                return
        elif self.start is not None:
            self.held.append(message)
            if not message.get("more_body", False):
                await self.release()
            return
        await self.outer_send(message)

    def add_headers(self, start: Message) -> bool:
        """Add the headers to the answer's start; True when it is a documentation page to hold."""
        headers, page, own_policy = [], False, False
        for name, value in start.get("headers", ()):
            if name == b"content-type":
                page = value.startswith(b"text/html")
            elif name == b"content-security-policy":
                own_policy = True  # a route that set its own policy keeps it
            elif name == b"cache-control" and self.private:
                continue
            headers.append((name, value))
        headers += self.common
        if self.private:
            headers.append((b"cache-control", b"no-store"))
        start["headers"] = headers
        if own_policy:
            return False
        if page and self.path in DOCS_PAGES:
            self.start, self.docs_policy = start, DOCS_PAGES[self.path]
            return True
        headers.append((b"content-security-policy", OWN_FILES_PAGE if page else NOTHING))
        return False

    async def release(self) -> None:
        start, self.start = self.start, None
        assert start is not None
        body = b"".join(m.get("body", b"") for m in self.held)
        start["headers"].append((b"content-security-policy", with_script_hashes(self.docs_policy, body).encode()))
        await self.outer_send(start)
        await self.outer_send({"type": "http.response.body", "body": body, "more_body": False})
