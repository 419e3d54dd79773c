"""Every request has an id: the caller's `X-Request-Id` when it is a sane one, else a new one.

The id is set in `core.logs.REQUEST_ID` for the request (every log line of it, and of the chat
turn it starts, carries it) and sent back in the `X-Request-Id` response header. A plain ASGI
middleware: one header look-up and one extra header per response, nothing else on the hot path.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from core.logs import REQUEST_ID

HEADER = "X-Request-Id"
_HEADER_KEY = HEADER.lower().encode()
# Ids a proxy or client would send (uuids, trace ids, short tokens): anything else, too long, or
# with characters that could forge a log line, is replaced by our own.
_SANE = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")


def request_id_middleware(
    app: ASGIApp, observe: Callable[[Scope, int], None] | None = None
) -> ASGIApp:
    """Wrap `app`: each HTTP request runs with its id set and answers with it in a header.

    `observe(scope, status)` runs once when the request ends (the metrics' request counter):
    one wrapper around `send` for both, since an SSE reply passes every frame through it."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        # 32 hex digits like a uuid4's, at a fifth of uuid4()'s cost (0.9 µs against 3.8)
        request_id = _incoming(scope) or os.urandom(16).hex()
        header = (_HEADER_KEY, request_id.encode())
        status = 500  # raised before a response started: the exception mapper's answer

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
                status = message["status"]
            await send(message)

        token = REQUEST_ID.set(request_id)
        try:
            await app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)
            if observe is not None:
                observe(scope, status)

    return middleware


def current_request_id() -> str | None:
    """The id of the request being served (None outside a request)."""
    return REQUEST_ID.get()


def _incoming(scope: Scope | dict[str, Any]) -> str | None:
    for key, value in scope["headers"]:
        if key == _HEADER_KEY:
            return value.decode("ascii") if _SANE.fullmatch(value) else None
    return None
