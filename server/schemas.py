"""Request and response bodies of the HTTP API, as msgspec structs Litestar validates natively."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request
from litestar.openapi.datastructures import ResponseSpec

from core.ids import MAX_ID_CHARS
from server.errors import ApiError

# Ids are checked by `core.ids.check_id` (handlers and `ChatService.prepare`); the bounds here
# put them in the OpenAPI schema (msgspec checks them too; an error on an id field is an
# `invalid_id`, see server/errors.py). Thread ids are also URL- and header-safe (they go back
# in `X-Thread-Id`), hence their narrower alphabet.
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_CHARS)]
ThreadId = Annotated[str, msgspec.Meta(pattern=rf"^[A-Za-z0-9._:-]{{1,{MAX_ID_CHARS}}}$")]
Channel = Literal["web", "whatsapp", "api", "cli"]


class ChatRequest(msgspec.Struct, forbid_unknown_fields=True):
    # Length is checked by the handler so the error can say, in Portuguese, what to change.
    message: str
    thread_id: ThreadId | None = None
    user_id: Id | None = None
    channel: Channel = "api"


class Usage(msgspec.Struct):
    input_tokens: int
    output_tokens: int


class Cost(msgspec.Struct):
    usd: str
    brl: str


class RouteInfo(msgspec.Struct):
    agent: str
    layer: str
    confidence: float


class ChatReply(msgspec.Struct):
    """The whole turn as one JSON object (`Accept: application/json`)."""

    thread_id: str
    agent: str
    route: RouteInfo
    reply: str
    offline: bool
    usage: Usage
    cost: Cost
    latency_ms: int
    ttft_ms: int | None
    request_id: str  # the `X-Request-Id` header's value (the caller's, or one made up)


class ThreadMessage(msgspec.Struct, omit_defaults=True):
    role: Literal["user", "assistant"]
    content: str
    agent: str | None
    interrupted: bool = False  # only present (true) on a reply cut short by a newer message
    pending: bool = False  # only present (true) on a message whose turn has not finished


class MergedReply(msgspec.Struct):
    """This message joined a burst (debounce); the request named by `into` answers it."""

    into: str
    thread_id: str


class ThreadView(msgspec.Struct):
    thread_id: str
    messages: list[ThreadMessage]


class ErrorBody(msgspec.Struct):
    code: str
    message: str


class Health(msgspec.Struct):
    status: str


class RoutingHead(msgspec.Struct):
    """Where the serving routing head's examples came from (a live edit refits it)."""

    examples: str  # "agents.yaml", or "registry revision N" after a live refit
    refitted_at: str | None  # ISO time of the live refit now serving
    refitting: bool  # a refit for newer examples runs; the head above serves meanwhile
    refit_error: str | None  # the last refit's failure (the head above kept serving)


class Readiness(msgspec.Struct):
    # degraded: Redis down or the routing fit stale; chat still works
    status: Literal["ready", "degraded", "not_ready"]
    config: str
    database: str
    redis: str
    agents: list[str]
    # Whether agents.routing.json was fitted on the serving head's examples; stale routes on,
    # less well tuned, and `routing_fix` says which command fixes it.
    routing: Literal["fresh", "stale", "not_fitted"]
    routing_fix: str | None
    routing_head: RoutingHead


class HistoryItem(msgspec.Struct, forbid_unknown_fields=True):
    role: Literal["user", "assistant"]
    content: str
    agent: str | None = None


class ClassifyRequest(msgspec.Struct, forbid_unknown_fields=True):
    text: str
    history: list[HistoryItem] | None = None
    thread_id: ThreadId | None = None


class ScoredAgent(msgspec.Struct):
    agent: str
    score: float


class ClassifyReply(msgspec.Struct):
    agent: str
    layer: str
    confidence: float
    candidates: list[ScoredAgent]
    latency_ms: float


def response_spec(data: type[Any], description: str) -> ResponseSpec:
    """A documented response. Without Litestar's generated examples: they are random, a new
    set at every start, and show clients values no route ever returns."""
    return ResponseSpec(data, description=description, generate_examples=False)


# JSON bodies nest a few levels (a history item in a list in an object). msgspec decodes an
# untyped body (Litestar's `request.json()`, before the struct is built) recursively: ~1,000
# levels end in a RecursionError, so deep bodies are refused before they are decoded.
MAX_JSON_DEPTH = 32
# A string ends at its closing quote or at the end of the body (a backslash may be the last
# byte): every attempt matches, so removing strings stays linear on unterminated ones.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\(?:.|\Z)[^"\\]*)*(?:"|\Z)', re.DOTALL)
_CLOSERS_AS_SQUARE = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))


def json_depth_exceeds(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the arrays/objects in `body` nest deeper than `limit` (brackets inside strings do
    not count), or more than `limit` brackets are left open. All in C-speed passes: strings
    out, only brackets kept, then each pass drops the innermost pairs (one level)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False  # too few brackets to nest that deep: most bodies stop here
    brackets = _JSON_STRING.sub(b"", body).translate(_CLOSERS_AS_SQUARE, _NOT_BRACKETS)
    for _ in range(limit):
        inner = brackets.replace(b"[]", b"")
        if len(inner) == len(brackets):
            break
        brackets = inner
    return b"[]" in brackets or brackets.count(b"[") > limit


def is_json_media_type(content_type: str | None) -> bool:
    """`application/json` or `application/<something>+json`, parameters (charset) aside."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def check_json_body(request: Request[Any, Any, Any]) -> None:
    """`before_request` hook of the routes with a JSON body: 415 unless the body is declared
    JSON (a `text/plain` post is a "simple" cross-site request a browser sends without asking
    the server first: refusing it makes every cross-origin caller pass CORS); 400
    `invalid_json` when it nests too deep."""
    if not is_json_media_type(request.headers.get("content-type")):
        raise ApiError(
            415,
            "unsupported_media_type",
            "Envie o corpo como JSON, com o cabeçalho 'Content-Type: application/json'.",
        )
    if json_depth_exceeds(await request.body()):
        raise ApiError(
            400,
            "invalid_json",
            f"O corpo da requisição não é um JSON aceito: passa de {MAX_JSON_DEPTH} níveis de "
            "listas e objetos aninhados.",
        )
