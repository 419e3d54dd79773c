"""A local stand-in for LangSmith's ingest API, for tests: records what the SDK sends.

Serves `GET /info`, `POST /runs/multipart` (the SDK's batches: one part per run operation and
field, `post.<id>`, `post.<id>.inputs`, `patch.<id>.outputs`…), `POST /runs/batch` (JSON
`{post: [...], patch: [...]}`), and the single-run `POST /runs` / `PATCH /runs/{id}`. Every body
is kept as received (`bodies`), and the runs are rebuilt from their operations (`runs()`).

    with run_langsmith_receiver() as receiver:
        settings = ...(langsmith_tracing=True, langsmith_endpoint=receiver.url)
        ...
        await receiver.wait_for(lambda r: len(r.roots()) == 1)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import uvicorn
from litestar import Litestar, Request, get, patch, post
from litestar.params import FromPath

from fakes.serving import bind, serve_in_thread


@dataclass
class Operation:
    """One run operation: `post` (the run starts) or `patch` (it ends), with its fields."""

    kind: str
    run_id: str
    fields: dict[str, Any]


@dataclass
class LangSmithReceiver:
    """What the fake saw; thread-safe (the server runs in its own thread)."""

    bodies: list[bytes] = field(default_factory=list)
    operations: list[Operation] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, body: bytes, operations: list[Operation]) -> None:
        with self._lock:
            self.bodies.append(body)
            self.operations.extend(operations)

    def reset(self) -> None:
        with self._lock:
            self.bodies.clear()
            self.operations.clear()

    def raw(self) -> bytes:
        """Every byte received, for "this string was never sent" checks."""
        with self._lock:
            return b"\n".join(self.bodies)

    def runs(self) -> dict[str, dict[str, Any]]:
        """Each run as the server would store it: its `post` fields, then its `patch` fields."""
        with self._lock:
            operations = list(self.operations)
        runs: dict[str, dict[str, Any]] = {}
        for kind in ("post", "patch"):
            for op in operations:
                if op.kind == kind:
                    runs.setdefault(op.run_id, {"id": op.run_id}).update(
                        {k: v for k, v in op.fields.items() if v is not None}
                    )
        return runs

    def roots(self) -> list[dict[str, Any]]:
        """Runs without a parent: one per trace."""
        return [run for run in self.runs().values() if not run.get("parent_run_id")]

    def trace(self, trace_id: str) -> list[dict[str, Any]]:
        """Every run of one trace."""
        return [run for run in self.runs().values() if run.get("trace_id") == trace_id]

    async def wait_for(
        self, condition: Callable[[LangSmithReceiver], bool], timeout_s: float = 15.0
    ) -> None:
        """Poll until `condition(self)` holds; AssertionError with what was seen otherwise."""
        deadline = time.monotonic() + timeout_s
        while not condition(self):
            if time.monotonic() > deadline:
                names = sorted(str(run.get("name")) for run in self.runs().values())
                raise AssertionError(f"fake LangSmith: condition not met; runs seen: {names}")
            await asyncio.sleep(0.05)


def _multipart_operations(content_type: str, body: bytes) -> list[Operation]:
    """The run operations in a `/runs/multipart` body: `post.<id>` holds the run, and
    `post.<id>.<field>` each large field (inputs, outputs, events…)."""
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition") or ""
        kind, _, rest = name.partition(".")
        if kind not in ("post", "patch"):
            continue  # attachments, feedback: not used by the squad
        run_id, _, field_name = rest.partition(".")
        value = json.loads(part.get_payload(decode=True) or b"null")
        fields = found.setdefault((kind, run_id), {})
        if field_name:
            fields[field_name] = value
        else:
            fields.update(value)
    return [Operation(kind, run_id, fields) for (kind, run_id), fields in found.items()]


def create_receiver_app(receiver: LangSmithReceiver) -> Litestar:
    """The fake's HTTP routes, recording into `receiver`."""

    @get("/info")
    async def info() -> dict[str, Any]:
        # No batch_ingest_config (the SDK uses its defaults, multipart on), no compression flag
        # (so the SDK sends plain multipart, readable here).
        return {"version": "0.10.0", "instance_flags": {}}

    @post("/runs/multipart", status_code=202)
    async def multipart(request: Request[Any, Any, Any]) -> dict[str, Any]:
        body = await request.body()
        receiver.record(body, _multipart_operations(request.headers["content-type"], body))
        return {}

    @post("/runs/batch", status_code=202)
    async def batch(request: Request[Any, Any, Any]) -> dict[str, Any]:
        body = await request.body()
        payload = json.loads(body)
        receiver.record(
            body,
            [
                Operation(kind, str(run["id"]), run)
                for kind in ("post", "patch")
                for run in payload.get(kind) or []
            ],
        )
        return {}

    @post("/runs", status_code=202)
    async def create_run(request: Request[Any, Any, Any]) -> dict[str, Any]:
        body = await request.body()
        run = json.loads(body)
        receiver.record(body, [Operation("post", str(run["id"]), run)])
        return {}

    @patch("/runs/{run_id:str}", status_code=202)
    async def update_run(run_id: FromPath[str], request: Request[Any, Any, Any]) -> dict[str, Any]:
        body = await request.body()
        receiver.record(body, [Operation("patch", run_id, json.loads(body))])
        return {}

    return Litestar(
        route_handlers=[info, multipart, batch, create_run, update_run],
        logging_config=None,
        openapi_config=None,
    )


@dataclass
class ReceiverServer:
    """Handle yielded by `run_langsmith_receiver`: the fake and where it listens."""

    receiver: LangSmithReceiver
    host: str
    port: int

    @property
    def url(self) -> str:
        """The `LANGSMITH_ENDPOINT` to point the service at."""
        return f"http://{self.host}:{self.port}"

    def __getattr__(self, name: str) -> Any:  # receiver.runs(), receiver.wait_for(…), …
        return getattr(self.receiver, name)


@contextlib.contextmanager
def run_langsmith_receiver(host: str = "127.0.0.1") -> Iterator[ReceiverServer]:
    """Serve a fresh receiver in a background thread on a free loopback port."""
    receiver = LangSmithReceiver()
    sock = bind(host)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_receiver_app(receiver),
        lifespan="on",
        access_log=False,
        log_level="warning",
        loop="asyncio",
        http="h11",
    )
    with serve_in_thread(config, sock, f"fake-langsmith:{port}"):
        yield ReceiverServer(receiver, host, port)
