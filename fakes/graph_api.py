"""A local fake of the WhatsApp Cloud API's Graph endpoint for tests and benchmarks.

Serves `POST /{version}/{phone_number_id}/messages` on loopback (uvicorn in a thread, like
`fakes/stub_llm.py`): records every request, answers sends with a fresh `wamid.out.N` the way
Meta does (`{"messaging_product", "contacts", "messages": [{"id"}]}`) and read receipts with
`{"success": true}`, and can be scripted to fail the next calls (e.g. 429 with `Retry-After`).

    with run_fake_graph_api() as graph:
        settings = ...(graph_api_base_url=graph.url)
        graph.fail_next(429, retry_after="1")
        ...
        await graph.wait_for(lambda g: len(g.texts()) == 1)
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from fakes.serving import bind, serve_in_thread


@dataclass(frozen=True)
class GraphRequest:
    """One call the fake received."""

    version: str
    phone_number_id: str
    authorization: str | None
    body: dict[str, Any]
    at: float  # time.monotonic() on arrival
    status: int  # what the fake answered

    @property
    def is_read_receipt(self) -> bool:
        return self.body.get("status") == "read"


@dataclass
class _Failure:
    status: int
    retry_after: str | None
    when: str | None  # only calls of this kind: a message type ("text", "template") or "read"

    def matches(self, body: dict[str, Any]) -> bool:
        kind = "read" if body.get("status") == "read" else body.get("type")
        return self.when is None or self.when == kind


@dataclass
class FakeGraphApi:
    """The ASGI app plus what it saw; thread-safe (the server runs in its own thread)."""

    requests: list[GraphRequest] = field(default_factory=list)
    _failures: list[_Failure] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(
        self,
        status: int,
        *,
        count: int = 1,
        retry_after: str | None = None,
        when: str | None = None,
    ) -> None:
        """Answer the next `count` calls (of kind `when`: "text", "template", "read"; None:
        any) with `status` and this `Retry-After`."""
        with self._lock:
            self._failures += [_Failure(status, retry_after, when) for _ in range(count)]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._failures.clear()

    def sent(self) -> list[GraphRequest]:
        """Messages accepted (200), read receipts left out."""
        with self._lock:
            return [r for r in self.requests if r.status == 200 and not r.is_read_receipt]

    def texts(self) -> list[str]:
        """The bodies of the text messages accepted, in order."""
        return [r.body["text"]["body"] for r in self.sent() if r.body.get("type") == "text"]

    def reads(self) -> list[str]:
        """The message ids marked read."""
        with self._lock:
            return [r.body["message_id"] for r in self.requests if r.is_read_receipt]

    async def wait_for(
        self, condition: Callable[[FakeGraphApi], bool], timeout_s: float = 15.0
    ) -> None:
        """Poll until `condition(self)` holds; AssertionError with what was seen otherwise."""
        deadline = time.monotonic() + timeout_s
        while not condition(self):
            if time.monotonic() > deadline:
                raise AssertionError(f"fake Graph API: condition not met; saw {self.requests}")
            await asyncio.sleep(0.02)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        parts = scope["path"].strip("/").split("/")
        if scope["method"] != "POST" or len(parts) != 3 or parts[2] != "messages":
            await _respond(send, 404, {"error": {"message": "unknown path", "code": 100}})
            return
        try:
            payload = json.loads(body)
        except ValueError:
            await _respond(send, 400, {"error": {"message": "invalid JSON", "code": 100}})
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        with self._lock:
            failure = next((f for f in self._failures if f.matches(payload)), None)
            if failure is not None:
                self._failures.remove(failure)
            status = failure.status if failure else 200
            self.requests.append(
                GraphRequest(
                    parts[0],
                    parts[1],
                    headers.get("authorization"),
                    payload,
                    time.monotonic(),
                    status,
                )
            )
            number = next(self._ids)
        if failure is not None:
            extra = [(b"retry-after", failure.retry_after.encode())] if failure.retry_after else []
            error = {"error": {"message": "scripted failure", "code": 4, "type": "OAuthException"}}
            await _respond(send, failure.status, error, extra)
        elif payload.get("status") == "read":
            await _respond(send, 200, {"success": True})
        else:
            to = payload.get("to", "")
            await _respond(
                send,
                200,
                {
                    "messaging_product": "whatsapp",
                    "contacts": [{"input": to, "wa_id": to}],
                    "messages": [{"id": f"wamid.out.{number}"}],
                },
            )


async def _respond(
    send: Any, status: int, body: dict[str, Any], extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *(extra or [])],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


@dataclass
class GraphServer:
    """Handle yielded by `run_fake_graph_api`: the fake and where it listens."""

    fake: FakeGraphApi
    host: str
    port: int

    @property
    def url(self) -> str:
        """The `GRAPH_API_BASE_URL` to point the service at."""
        return f"http://{self.host}:{self.port}"

    def __getattr__(self, name: str) -> Any:  # graph.texts(), graph.fail_next(…), …
        return getattr(self.fake, name)


@contextlib.contextmanager
def run_fake_graph_api(host: str = "127.0.0.1") -> Iterator[GraphServer]:
    """Serve a fresh fake in a background thread on a free loopback port."""
    fake = FakeGraphApi()
    sock = bind(host)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        fake,
        interface="asgi3",
        lifespan="off",
        access_log=False,
        log_level="warning",
        loop="asyncio",
        http="h11",
    )
    with serve_in_thread(config, sock, f"fake-graph:{port}"):
        yield GraphServer(fake, host, port)
