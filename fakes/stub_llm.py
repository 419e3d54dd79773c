"""Local OpenAI-compatible stub LLM server for tests and load benchmarks.

Esquadra talks to its model through ``langchain_openai.ChatOpenAI``. To test the
streaming API without a real provider, and to load-test our own server without
paying for (or being throttled by) one, this module serves a fake
``/v1/chat/completions`` whose replies, latency, chunking and failures are
scripted per test.

It is a raw ASGI application on purpose: under a load benchmark the stub must
cost microseconds per request so that the numbers measure Esquadra, not the
stub. Latency is simulated with ``asyncio.sleep`` only.

Usage from tests::

    with run_stub_llm(first_token_ms=50) as srv:
        llm = ChatOpenAI(base_url=srv.url, api_key="x", model="stub-model")
        srv.stub.config.replies = ["Olá!"]
        ...
        assert srv.stub.requests[-1]["messages"]

Usage for a benchmark (foreground)::

    python -m fakes.stub_llm --port 8100 --first-token-ms 300 --token-interval-ms 30 --tokens 30

Run-time control over HTTP (same fields as :class:`StubConfig`):
``POST /_stub/config``, ``GET /_stub/config``, ``POST /_stub/reset``,
``GET /_stub/requests`` and ``DELETE /_stub/requests``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import itertools
import json
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from fakes.serving import bind, serve_in_thread

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

DEFAULT_MODEL = "stub-model"
DEFAULT_MAX_REQUESTS = 10_000

# Leading whitespace goes with the first word and trailing whitespace with each
# word, so joining the pieces reproduces the reply byte for byte.
_WORD_RE = re.compile(r"\s*\S+\s*")

_JSON_HEADERS = [(b"content-type", b"application/json")]
_SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


@dataclass
class StubConfig:
    """Scripted behaviour. Attributes may be reassigned from another thread at any time.

    ``fail_status``/``fail_count`` are consumed by the server: after ``fail_count``
    failed requests ``fail_status`` goes back to ``None`` (and ``fail_count`` to 1),
    so the config always shows what is still armed. ``replies`` is never mutated;
    the stub keeps its own cursor, restarted whenever a new list is assigned.
    ``fail_retry_after_ms`` adds a ``retry-after-ms`` header to injected failures (the
    OpenAI SDK waits that long before a retry instead of its own back-off).
    """

    # A reply is text, or `{"tool_calls": [{"name": ..., "arguments": {...}}]}` for a model
    # that calls tools instead of answering.
    replies: list[str | dict[str, Any]] = field(default_factory=list)
    default_reply: str | None = None
    first_token_ms: float = 0.0
    token_interval_ms: float = 0.0
    tokens: int | None = None
    fail_status: int | None = None
    fail_count: int = 1
    fail_after_tokens: int | None = None
    fail_retry_after_ms: float | None = None

    def __post_init__(self) -> None:
        _validate(self)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate(cfg: StubConfig) -> None:
    # Validated mostly for the HTTP control API, where a typo would otherwise
    # surface later as a confusing 500 inside a completion request.
    if not isinstance(cfg.replies, list) or not all(
        isinstance(r, str) or _is_tool_reply(r) for r in cfg.replies
    ):
        raise ValueError("replies must be a list of strings or {tool_calls: [{name, arguments}]}")
    if cfg.default_reply is not None and not isinstance(cfg.default_reply, str):
        raise ValueError("default_reply must be a string or null")
    for name in ("first_token_ms", "token_interval_ms"):
        value = getattr(cfg, name)
        if not _is_number(value) or value < 0:
            raise ValueError(f"{name} must be a non-negative number")
    if cfg.tokens is not None and (not _is_int(cfg.tokens) or cfg.tokens < 1):
        raise ValueError("tokens must be a positive integer or null")
    if cfg.fail_status is not None and (
        not _is_int(cfg.fail_status) or not 400 <= cfg.fail_status <= 599
    ):
        raise ValueError("fail_status must be an HTTP error status (400-599) or null")
    if not _is_int(cfg.fail_count) or cfg.fail_count < 1:
        raise ValueError("fail_count must be a positive integer")
    if cfg.fail_after_tokens is not None and (
        not _is_int(cfg.fail_after_tokens) or cfg.fail_after_tokens < 0
    ):
        raise ValueError("fail_after_tokens must be a non-negative integer or null")
    if cfg.fail_retry_after_ms is not None and (
        not _is_number(cfg.fail_retry_after_ms) or cfg.fail_retry_after_ms < 0
    ):
        raise ValueError("fail_retry_after_ms must be a non-negative number or null")


def _is_tool_reply(reply: object) -> bool:
    calls = reply.get("tool_calls") if isinstance(reply, dict) else None
    return isinstance(calls, list) and all(
        isinstance(c, dict)
        and isinstance(c.get("name"), str)
        and isinstance(c.get("arguments"), dict)
        for c in calls
    )


def _openai_tool_calls(reply: dict[str, Any], completion_id: str) -> list[dict[str, Any]]:
    return [
        {
            "id": f"call_{completion_id}_{i}",
            "type": "function",
            "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])},
        }
        for i, c in enumerate(reply["tool_calls"])
    ]


def _message_text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # multimodal "content parts"
        return " ".join(
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def estimate_prompt_tokens(messages: list[Any]) -> int:
    """Deterministic token estimate: ceil(words * 4 / 3), at least 1."""
    words = 0
    for msg in messages:
        if isinstance(msg, dict):
            words += len(_message_text(msg.get("content")).split())
    return max(1, (words * 4 + 2) // 3)


def default_reply_for(messages: list[Any]) -> str:
    for msg in reversed(messages):
        if isinstance(msg, dict) and msg.get("role") == "user":
            return f"Resposta simulada para: {_message_text(msg.get('content'))}"
    return "Resposta simulada."


def split_reply(reply: str, tokens: int | None) -> list[str]:
    """Split ``reply`` into stream chunks whose concatenation is exactly ``reply``.

    With ``tokens`` the split is by characters into exactly that many chunks (some
    empty if the reply is shorter), because benchmarks depend on the chunk count
    to shape the stream timing.
    """
    if tokens is None:
        return _WORD_RE.findall(reply) or ([reply] if reply else [])
    size, extra = divmod(len(reply), tokens)
    pieces: list[str] = []
    pos = 0
    for i in range(tokens):
        end = pos + size + (1 if i < extra else 0)
        pieces.append(reply[pos:end])
        pos = end
    return pieces


def _error_body(message: str, type_: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


async def _send_json(
    send: Send, status: int, payload: Any, headers: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                *_JSON_HEADERS,
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _Disconnected(Exception):
    pass


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


class StubLLM:
    """The ASGI application plus its scripted state. ``app`` is the ASGI callable."""

    def __init__(
        self, config: StubConfig | None = None, *, max_requests: int = DEFAULT_MAX_REQUESTS
    ) -> None:
        self.config: StubConfig = config if config is not None else StubConfig()
        self._initial = dataclasses.replace(self.config, replies=list(self.config.replies))
        self._lock = threading.Lock()
        # A bounded deque keeps recording O(1) and memory flat during long benchmarks.
        self._records: deque[dict[str, Any]] = deque(maxlen=max_requests)
        self._replies_ref: list[str] | None = None
        self._reply_index = 0
        self._ids = itertools.count(1)

    # ----------------------------------------------------------------- Python API

    @property
    def app(self) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
        return self

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Snapshot of recorded chat-completion request bodies, oldest first."""
        with self._lock:
            return list(self._records)

    def clear_requests(self) -> int:
        with self._lock:
            count = len(self._records)
            self._records.clear()
            return count

    def configure(self, **changes: Any) -> StubConfig:
        """Atomically apply ``changes`` (StubConfig field names) and return the new config."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(StubConfig)}
        if unknown:
            raise ValueError(f"unknown config fields: {', '.join(sorted(unknown))}")
        if "replies" in changes and isinstance(changes["replies"], list | tuple):
            # A fresh list restarts the reply cursor and decouples from the caller's list.
            changes["replies"] = list(changes["replies"])
        if "fail_status" in changes and "fail_count" not in changes:
            changes["fail_count"] = 1
        with self._lock:
            # Swap in a whole new object so a concurrent request never sees half an update.
            self.config = dataclasses.replace(self.config, **changes)
            return self.config

    def reset(self) -> None:
        """Back to the construction-time config, reply cursor at 0, no records."""
        with self._lock:
            self.config = dataclasses.replace(self._initial, replies=list(self._initial.replies))
            self._replies_ref = None
            self._reply_index = 0
            self._records.clear()

    # ----------------------------------------------------------- request helpers

    def _record(self, body: dict[str, Any]) -> None:
        with self._lock:
            self._records.append(body)

    def _next_scripted_reply(self, cfg: StubConfig) -> str | None:
        with self._lock:
            replies = cfg.replies
            if replies is not self._replies_ref:
                self._replies_ref = replies
                self._reply_index = 0
            if self._reply_index < len(replies):
                reply = replies[self._reply_index]
                self._reply_index += 1
                return reply
            return None

    def _take_failure(self) -> int | None:
        with self._lock:
            cfg = self.config
            status = cfg.fail_status
            if status is None:
                return None
            if cfg.fail_count <= 1:
                cfg.fail_status = None
                cfg.fail_count = 1
            else:
                cfg.fail_count -= 1
            return status

    # ---------------------------------------------------------------------- ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        method: str = scope["method"]
        path: str = scope["path"].rstrip("/") or "/"
        try:
            if path == "/v1/chat/completions":
                if method == "POST":
                    await self._chat_completions(receive, send)
                    return
            elif path == "/v1/models":
                if method == "GET":
                    await _send_json(send, 200, _MODELS)
                    return
            elif path == "/_stub/config":
                if method == "GET":
                    await _send_json(send, 200, dataclasses.asdict(self.config))
                    return
                if method == "POST":
                    await self._control_config(receive, send)
                    return
            elif path == "/_stub/reset":
                if method == "POST":
                    self.reset()
                    await _send_json(send, 200, {"ok": True})
                    return
            elif path == "/_stub/requests":
                if method == "GET":
                    await _send_json(send, 200, self.requests)
                    return
                if method == "DELETE":
                    await _send_json(send, 200, {"deleted": self.clear_requests()})
                    return
            else:
                await _send_json(
                    send, 404, _error_body(f"Unknown path: {path}", "invalid_request_error", None)
                )
                return
            await _send_json(
                send,
                405,
                _error_body(
                    f"Method {method} not allowed on {path}", "invalid_request_error", None
                ),
            )
        except _Disconnected:
            return

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _read_json_object(self, receive: Receive, send: Send) -> dict[str, Any] | None:
        raw = await _read_body(receive)
        try:
            body = json.loads(raw)
        except ValueError as exc:
            await _send_json(
                send,
                400,
                _error_body(f"Invalid JSON body: {exc}", "invalid_request_error", "invalid_json"),
            )
            return None
        if not isinstance(body, dict):
            await _send_json(
                send,
                400,
                _error_body("Body must be a JSON object", "invalid_request_error", "invalid_json"),
            )
            return None
        return body

    async def _control_config(self, receive: Receive, send: Send) -> None:
        body = await self._read_json_object(receive, send)
        if body is None:
            return
        try:
            cfg = self.configure(**body)
        except (TypeError, ValueError) as exc:
            await _send_json(send, 400, _error_body(str(exc), "invalid_request_error", None))
            return
        await _send_json(send, 200, dataclasses.asdict(cfg))

    async def _chat_completions(self, receive: Receive, send: Send) -> None:
        body = await self._read_json_object(receive, send)
        if body is None:
            return
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            await _send_json(
                send,
                400,
                _error_body(
                    "'messages' is required and must be a non-empty array",
                    "invalid_request_error",
                    "missing_required_parameter",
                ),
            )
            return
        self._record(body)

        status = self._take_failure()
        if status is not None:
            type_ = "server_error" if status >= 500 else "invalid_request_error"
            if status == 429:
                type_ = "rate_limit_error"
            retry_after = self.config.fail_retry_after_ms
            await _send_json(
                send,
                status,
                _error_body(f"Stub LLM injected failure (HTTP {status})", type_, "stub_failure"),
                () if retry_after is None else ((b"retry-after-ms", str(retry_after).encode()),),
            )
            return

        cfg = self.config  # one read, so a concurrent reconfigure can't mix two configs
        reply = self._next_scripted_reply(cfg)
        if reply is None:
            reply = cfg.default_reply
        if reply is None:
            reply = default_reply_for(messages)
        model = body.get("model") if isinstance(body.get("model"), str) else DEFAULT_MODEL
        completion_id = f"chatcmpl-stub{next(self._ids)}"
        if isinstance(reply, dict):
            await self._tool_calls(send, body, reply, model, completion_id, messages)
            return
        pieces = split_reply(reply, cfg.tokens)
        usage = {
            "prompt_tokens": estimate_prompt_tokens(messages),
            "completion_tokens": len(pieces),
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]

        if body.get("stream") is True:
            stream_options = body.get("stream_options")
            include_usage = isinstance(stream_options, dict) and bool(
                stream_options.get("include_usage")
            )
            await self._stream(
                receive, send, cfg, pieces, model, completion_id, usage if include_usage else None
            )
            return

        # Non-streaming: the client waits for the whole generation, so charge it all.
        delay_ms = cfg.first_token_ms + cfg.token_interval_ms * max(0, len(pieces) - 1)
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)
        await _send_json(
            send,
            200,
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": reply, "refusal": None},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage,
                "system_fingerprint": None,
            },
        )

    async def _tool_calls(
        self,
        send: Send,
        body: dict[str, Any],
        reply: dict[str, Any],
        model: str,
        completion_id: str,
        messages: list[Any],
    ) -> None:
        """A scripted tool call: one streamed chunk per call (or one JSON reply), then usage."""
        calls = _openai_tool_calls(reply, completion_id)
        usage = {"prompt_tokens": estimate_prompt_tokens(messages), "completion_tokens": 10}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        envelope = {"id": completion_id, "created": int(time.time()), "model": model}
        if body.get("stream") is not True:
            message = {"role": "assistant", "content": None, "tool_calls": calls}
            choice = {"index": 0, "message": message, "finish_reason": "tool_calls"}
            await _send_json(
                send,
                200,
                {**envelope, "object": "chat.completion", "choices": [choice], "usage": usage},
            )
            return
        events = []
        for i, call in enumerate(calls):
            delta: dict[str, Any] = {"tool_calls": [{"index": i, **call}]}
            if i == 0:
                delta.update(role="assistant", content=None)
            events.append({"index": 0, "delta": delta, "finish_reason": None})
        events.append({"index": 0, "delta": {}, "finish_reason": "tool_calls"})
        chunk = {**envelope, "object": "chat.completion.chunk"}
        out = b"".join(
            f"data: {json.dumps({**chunk, 'choices': [e]})}\n\n".encode() for e in events
        )
        options = body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            out += f"data: {json.dumps({**chunk, 'choices': [], 'usage': usage})}\n\n".encode()
        await send({"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS})
        await send({"type": "http.response.body", "body": out + b"data: [DONE]\n\n"})

    async def _stream(
        self,
        receive: Receive,
        send: Send,
        cfg: StubConfig,
        pieces: list[str],
        model: str,
        completion_id: str,
        usage: dict[str, int] | None,
    ) -> None:
        # Chunks share everything but the delta, so build the envelope once and
        # only JSON-encode the content per token: this is the benchmark hot path.
        head = (
            f'data: {{"id":"{completion_id}","object":"chat.completion.chunk",'
            f'"created":{int(time.time())},"model":{json.dumps(model)},'
            f'"system_fingerprint":null,"choices":[{{"index":0,"delta":'
        )
        tail_null = ',"logprobs":null,"finish_reason":null}]'
        usage_field = ',"usage":null' if usage is not None else ""

        def content_event(piece: str) -> bytes:
            return (
                f'{head}{{"content":{json.dumps(piece, ensure_ascii=False)}}}'
                f"{tail_null}{usage_field}}}\n\n"
            ).encode()

        # Without this watcher uvicorn silently drops sends to a gone client and we
        # would keep sleeping through the rest of the script for nobody.
        disconnected = asyncio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            disconnected.set()

        watcher = asyncio.create_task(watch())
        try:
            if cfg.first_token_ms > 0:
                await asyncio.sleep(cfg.first_token_ms / 1000)
            if disconnected.is_set():
                return
            await send({"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS})
            role = (
                f'{head}{{"role":"assistant","content":"","refusal":null}}'
                f"{tail_null}{usage_field}}}\n\n"
            ).encode()
            interval = cfg.token_interval_ms / 1000
            fail_after = cfg.fail_after_tokens
            # The role chunk rides along with the first token so clients timing the
            # first chunk see first_token_ms, not an empty role delta.
            pending = role
            for i, piece in enumerate(pieces):
                if fail_after is not None and i >= fail_after:
                    break
                if i > 0 and interval > 0:
                    await asyncio.sleep(interval)
                if disconnected.is_set():
                    return
                await send(
                    {
                        "type": "http.response.body",
                        "body": pending + content_event(piece),
                        "more_body": True,
                    }
                )
                pending = b""
            if fail_after is not None and fail_after <= len(pieces):
                if pending:
                    await send({"type": "http.response.body", "body": pending, "more_body": True})
                # Returning without the final body message makes uvicorn close the
                # socket mid chunked-encoding: the client sees a truncated stream.
                # (uvicorn logs "ASGI callable returned without completing response".)
                return
            stop = (
                f'{head}{{}},"logprobs":null,"finish_reason":"stop"}}]{usage_field}}}\n\n'
            ).encode()
            tail = pending + stop
            if usage is not None:
                tail += (
                    f'data: {{"id":"{completion_id}","object":"chat.completion.chunk",'
                    f'"created":{int(time.time())},"model":{json.dumps(model)},'
                    f'"system_fingerprint":null,"choices":[],'
                    f'"usage":{json.dumps(usage, separators=(",", ":"))}}}\n\n'
                ).encode()
            tail += b"data: [DONE]\n\n"
            await send({"type": "http.response.body", "body": tail, "more_body": False})
        finally:
            watcher.cancel()


_MODELS = {
    "object": "list",
    "data": [{"id": DEFAULT_MODEL, "object": "model", "created": 0, "owned_by": "esquadra-stub"}],
}


# ------------------------------------------------------------------- running it


@dataclass
class StubServer:
    """Handle yielded by :func:`run_stub_llm`."""

    stub: StubLLM
    host: str
    port: int

    @property
    def root_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def url(self) -> str:
        """OpenAI ``base_url`` (ends in ``/v1``)."""
        return f"{self.root_url}/v1"

    def configure(self, **changes: Any) -> StubConfig:
        return self.stub.configure(**changes)

    def reset(self) -> None:
        self.stub.reset()


def _uvicorn_config(app: StubLLM, host: str, port: int, *, fast: bool) -> uvicorn.Config:
    loop, http = "asyncio", "h11"
    if fast:
        # uvloop/httptools are optional speedups; the stub must work without them.
        with contextlib.suppress(ImportError):
            import uvloop  # noqa: F401

            loop = "uvloop"
        with contextlib.suppress(ImportError):
            import httptools  # noqa: F401

            http = "httptools"
    return uvicorn.Config(
        app.app,
        host=host,
        port=port,
        loop=loop,
        http=http,
        # Explicit: uvicorn's ASGI2/3 sniffing is easy to fool with wrapped callables.
        interface="asgi3",
        lifespan="off",
        access_log=False,
        log_level="warning",
        server_header=False,
        backlog=4096,
        # uvicorn's 5 s default races with pooled clients that go idle between
        # benchmark phases (the client reuses a socket the server just closed).
        timeout_keep_alive=75,
    )


@contextlib.contextmanager
def run_stub_llm(host: str = "127.0.0.1", port: int = 0, **config: Any) -> Iterator[StubServer]:
    """Serve a fresh :class:`StubLLM` (built from ``config``) in a background thread."""
    stub = StubLLM(StubConfig(**config))
    sock = bind(host, port)
    actual_port = sock.getsockname()[1]
    uvicorn_config = _uvicorn_config(stub, host, actual_port, fast=True)
    with serve_in_thread(uvicorn_config, sock, f"stub-llm:{actual_port}"):
        yield StubServer(stub=stub, host=host, port=actual_port)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m fakes.stub_llm", description="OpenAI-compatible stub LLM server."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--first-token-ms", type=float, default=0.0)
    parser.add_argument("--token-interval-ms", type=float, default=0.0)
    parser.add_argument("--tokens", type=int, default=None)
    parser.add_argument("--default-reply", default=None)
    parser.add_argument("--max-requests", type=int, default=DEFAULT_MAX_REQUESTS)
    args = parser.parse_args(argv)

    stub = StubLLM(
        StubConfig(
            default_reply=args.default_reply,
            first_token_ms=args.first_token_ms,
            token_interval_ms=args.token_interval_ms,
            tokens=args.tokens,
        ),
        max_requests=args.max_requests,
    )
    sock = bind(args.host, args.port)
    port = sock.getsockname()[1]
    server = uvicorn.Server(_uvicorn_config(stub, args.host, port, fast=True))

    def announce() -> None:
        # uvicorn has no "ready" hook; poll so the URL is printed only once it listens.
        while not server.started and not server.should_exit:
            time.sleep(0.01)
        if server.started:
            host = f"[{args.host}]" if ":" in args.host else args.host
            print(f"stub LLM ready: http://{host}:{port}/v1", flush=True)

    threading.Thread(target=announce, daemon=True).start()
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


if __name__ == "__main__":
    sys.exit(main())
