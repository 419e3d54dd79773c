"""HTTP routes: chat (SSE or JSON), thread history, health and readiness."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Operation, Schema
from litestar.params import FromPath, JSONBody
from litestar.response import Stream

from checkpointing.sql import utcnow
from core.ids import check_id
from core.logs import THREAD_ID
from core.settings import Settings
from graphs.state import ModelUsage
from nodes.routing import HistoryTurn
from server.auth import caller_of, claimed_sender, require_own_thread
from server.chat import ChatEvent, ChatService, ChatTurn
from server.costs import priced_routing
from server.errors import ApiError
from server.readiness import check_readiness
from server.request_ids import current_request_id
from server.schemas import (
    ChatReply,
    ChatRequest,
    ClassifyReply,
    ClassifyRequest,
    ErrorBody,
    Health,
    MergedReply,
    Readiness,
    ScoredAgent,
    ThreadView,
    check_json_body,
    response_spec,
)

_INVALID = response_spec(
    ErrorBody,
    description="Invalid request: `{code, message}` (`invalid_json`, `invalid_request`, "
    "`invalid_id`, `empty_message`, …).",
)
_ERRORS = {
    400: _INVALID,
    401: response_spec(ErrorBody, description="`unauthorized`: `ESQUADRA_API_KEY` is set."),
    403: response_spec(
        ErrorBody,
        description="`channel_not_allowed`, `identity_mismatch`, `forbidden` or `csrf_failed`.",
    ),
    404: response_spec(ErrorBody, description="Unknown thread (or another user's)."),
    415: response_spec(ErrorBody, description="`unsupported_media_type`: send JSON."),
}


# One Server-Sent Event (Open API before 3.2: `schema` describes each event of the stream).
_SSE_EVENT = Schema(
    type=OpenAPIType.OBJECT,
    required=["event", "data"],
    properties={
        "event": Schema(
            type=OpenAPIType.STRING, enum=["route", "token", "done", "error", "merged"]
        ),
        "data": Schema(type=OpenAPIType.STRING, content_media_type="application/json"),
    },
    description="`route`, `token`…, then `done` or `error` (always last); or only `merged`.",
)


@dataclass
class _ChatOperation(Operation):
    """`POST /v1/chat` answers 200 with an event stream, or JSON on `Accept: application/json`:
    Litestar documents one media type per status, so the stream is added here."""

    def __post_init__(self) -> None:
        ok = (self.responses or {}).get("200")
        if isinstance(ok, OpenAPIResponse):
            ok.content = {
                "text/event-stream": OpenAPIMediaType(schema=_SSE_EVENT),
                **(ok.content or {}),
            }


@post(
    "/v1/chat",
    summary="Send a message to the squad",
    description=(
        "Streams Server-Sent Events: `route` {agent, layer, confidence}, `token` {text}…, then "
        "`done` {thread_id, agent, offline, usage, cost, latency_ms, ttft_ms} or `error` "
        "{code, message}; or only `merged` {into, thread_id} when the message joined a burst "
        "that another request answers (debounce). With `Accept: application/json` the whole "
        "turn comes as one object."
    ),
    responses={
        200: response_spec(ChatReply, description="JSON reply (Accept: application/json)."),
        202: response_spec(
            MergedReply, description="JSON mode: merged into another request's turn."
        ),
        **_ERRORS,
        409: response_spec(
            ErrorBody,
            description="`thread_busy`: the thread is still answering and the channel's "
            "policy is `reject`.",
        ),
        502: response_spec(ErrorBody, description="Model provider failed."),
        504: response_spec(ErrorBody, description="Model provider timed out."),
    },
    status_code=200,
    before_request=check_json_body,
    operation_class=_ChatOperation,
)
async def chat(
    data: JSONBody[ChatRequest], request: Request[Any, Any, Any], state: State
) -> Response[Any]:
    # Arrival, first thing: the thread's queue follows it, not when the look-ups below finish.
    arrived_at = time.time()
    message = _checked_text(data.message, state.settings, "message")
    caller = caller_of(request)
    channel, sender_id = claimed_sender(caller, data.channel, data.user_id)
    if caller.is_web and data.thread_id is not None:
        await require_own_thread(state, caller, check_id(data.thread_id, "thread_id"))
    service: ChatService = state.chat
    turn = await service.prepare(
        ChatTurn(
            message=message,
            thread_id=data.thread_id,
            user_id=sender_id,
            channel=channel,
            arrived_at=arrived_at,
        )
    )
    THREAD_ID.set(turn.thread_id)  # this request's log lines (its task's context) name it
    if _wants_json(request):
        return await _json_reply(service, turn)
    events = service.stream(turn)
    # The thread's gate decides before the first event: a busy thread under `reject` raises
    # here, before the stream starts, so the client gets a real 409.
    first = await anext(events)
    return Stream(
        _sse(events, first),
        media_type="text/event-stream",
        headers={**_SSE_HEADERS, "X-Thread-Id": turn.thread_id},
    )


@post(
    "/v1/classify",
    summary="Which agent would answer this message",
    description="Runs the routing layers only (no reply). `history` wins over `thread_id`; "
    "with only `thread_id`, the thread's stored conversation is the history.",
    responses={k: v for k, v in _ERRORS.items() if k != 404},
    status_code=200,
    before_request=check_json_body,
    opt={"access": "integration"},  # reads any thread's history: not for the page's session
)
async def classify(data: JSONBody[ClassifyRequest], state: State) -> ClassifyReply:
    text = _checked_text(data.text, state.settings, "text")
    if data.thread_id is not None:
        check_id(data.thread_id, "thread_id")
    service: ChatService = state.chat
    started = time.perf_counter()
    if data.history is not None:
        history = [HistoryTurn(role=h.role, content=h.content, agent=h.agent) for h in data.history]
    elif data.thread_id is not None:
        history = await service.thread_history(data.thread_id)
    else:
        history = []
    spent: list[ModelUsage] = []
    decision = await service.router().route(text, history, service.live_active(), spent=spent)
    # The llm layer's calls go to the cost ledger like a turn's (no user: an integration asks).
    who = (decision["agent"], data.thread_id, None, "api")
    for row in priced_routing(utcnow(), who, spent, service.squad.loaded.spec):
        service.hooks.turns.record(row)
    return ClassifyReply(
        agent=decision["agent"],
        layer=decision["layer"],
        confidence=decision["confidence"],
        candidates=[
            ScoredAgent(agent=c["agent"], score=c["score"]) for c in decision["candidates"]
        ],
        latency_ms=round((time.perf_counter() - started) * 1000, 3),
    )


@get("/v1/threads/{thread_id:str}", summary="A thread's messages", responses=_ERRORS)
async def get_thread(
    thread_id: FromPath[str], request: Request[Any, Any, Any], state: State
) -> ThreadView:
    service: ChatService = state.chat
    await require_own_thread(state, caller_of(request), check_id(thread_id, "thread_id"))
    messages = await service.thread_messages(thread_id)
    if messages is None:
        raise ApiError(404, "thread_not_found", f"Conversa '{thread_id}' não encontrada.")
    return ThreadView(thread_id=thread_id, messages=messages)  # type: ignore[arg-type]


@get("/healthz", summary="The process is alive")
async def healthz() -> Health:
    return Health(status="ok")


@get(
    "/readyz",
    summary="Database, Redis and config are ready",
    responses={503: response_spec(Readiness, description="Something is not reachable.")},
)
async def readyz(state: State) -> Response[Readiness]:
    readiness = await check_readiness(state)
    return Response(readiness, status_code=503 if readiness.status == "not_ready" else 200)


# Per field: how the user-facing errors name it ("A mensagem está vazia.").
_TEXT_FIELDS = {"message": ("A mensagem", "vazia"), "text": ("O texto", "vazio")}


def _checked_text(value: str, settings: Settings, field: str) -> str:
    """The stripped text, or a 400 naming the field: empty, or longer than the limit."""
    label, empty = _TEXT_FIELDS[field]
    text = value.strip()
    if not text:
        raise ApiError(400, f"empty_{field}", f"{label} está {empty}.")
    if len(text) > settings.max_message_chars:
        raise ApiError(
            400,
            f"{field}_too_long",
            f"{label} tem {len(text)} caracteres; o limite é {settings.max_message_chars}.",
        )
    return text


def _wants_json(request: Request[Any, Any, Any]) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/event-stream" not in accept


# What Litestar's ServerSentEvent sends, minus its per-event message objects and StringIO
# (a visible share of the loop under load): frames are built here as bytes. JSON never holds a
# raw line break, so each event is one `data:` line.
_SSE_HEADERS = {"Cache-Control": "no-cache", "Connection": "keep-alive", "X-Accel-Buffering": "no"}
_EVENT_FRAMES = {
    kind: f"event: {kind}\r\ndata: ".encode()
    for kind in ("route", "token", "done", "error", "merged")
}


def sse_frame(kind: str, data: dict[str, Any]) -> bytes:
    """One Server-Sent Event as bytes: `event: kind`, one `data:` line of JSON, a blank line."""
    head = _EVENT_FRAMES.get(kind) or f"event: {kind}\r\ndata: ".encode()
    return head + orjson.dumps(data, default=_plain) + b"\r\n\r\n"


def _plain(value: Any) -> Any:
    """Numbers orjson does not know (numpy scalars in routing scores) as plain Python ones."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


async def _sse(events: AsyncIterator[ChatEvent], first: ChatEvent) -> AsyncIterator[bytes]:
    request_id = current_request_id()
    try:
        yield sse_frame(*_with_request_id(first, request_id))
        async for kind, data in events:
            if kind == "done" or kind == "error":  # the last event names the request
                data = {**data, "request_id": request_id}
            yield sse_frame(kind, data)
    finally:
        # A client that hangs up must not leave the turn holding its thread's lock.
        await events.aclose()  # type: ignore[attr-defined]


def _with_request_id(event: ChatEvent, request_id: str | None) -> ChatEvent:
    kind, data = event
    if kind == "done" or kind == "error":
        return kind, {**data, "request_id": request_id}
    return event


async def _json_reply(service: ChatService, turn: ChatTurn) -> Response[Any]:
    request_id = current_request_id()
    route: dict[str, Any] = {}
    text: list[str] = []
    async for kind, data in service.stream(turn):
        if kind == "route":
            route = data
        elif kind == "token":
            text.append(data["text"])
        elif kind == "error":
            status = 504 if data["code"] == "provider_timeout" else 502
            body = {**data, "thread_id": turn.thread_id, "request_id": request_id}
            return Response(body, status_code=status)
        elif kind == "done":
            body = {**data, "route": route, "reply": "".join(text), "request_id": request_id}
            return Response(body)
        elif kind == "merged":
            return Response(data, status_code=202)
    raise RuntimeError("chat stream ended without done or error")
