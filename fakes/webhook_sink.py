"""A webhook receiver on loopback that records every JSON body POSTed to it (alert notices),
served like the other fakes (fakes/serving.py)."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import uvicorn

from fakes.serving import bind, serve_in_thread

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class WebhookSink:
    """The ASGI app: `POST` any path → 200 `ok` (as Slack answers) and the body recorded;
    `status` makes it refuse instead (a webhook that is down)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[tuple[float, Any]] = []
        self.status = 200
        self.url = ""

    @property
    def received(self) -> list[Any]:
        """The JSON bodies received so far, oldest first."""
        with self._lock:
            return [body for _, body in self._received]

    @property
    def times(self) -> list[float]:
        """When each arrived (`time.monotonic()`)."""
        with self._lock:
            return [at for at, _ in self._received]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        status = self.status
        if scope["method"] == "POST" and status == 200:
            body = json.loads(b"".join(chunks) or b"null")
            with self._lock:
                self._received.append((time.monotonic(), body))
        await send(
            {
                "type": "http.response.start",
                "status": status if scope["method"] == "POST" else 405,
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        await send({"type": "http.response.body", "body": b"ok"})


@contextlib.contextmanager
def run_webhook_sink() -> Iterator[WebhookSink]:
    """A sink listening on 127.0.0.1 until the block ends; `sink.url` is where to POST."""
    sink = WebhookSink()
    sock = bind()
    port = sock.getsockname()[1]
    config = uvicorn.Config(sink, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    with serve_in_thread(config, sock, f"webhook-sink:{port}"):
        sink.url = f"http://127.0.0.1:{port}/hooks/alerts"
        yield sink
