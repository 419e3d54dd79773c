"""Request and response bodies of the HTTP API, as msgspec structs Litestar validates natively."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

ThreadId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._:-]{1,128}$")]
Channel = Literal["web", "whatsapp", "api", "cli"]


class ChatRequest(msgspec.Struct, forbid_unknown_fields=True):
    # Length is checked by the handler so the error can say, in Portuguese, what to change.
    message: str
    thread_id: ThreadId | None = None
    user_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)] | None = None
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


class Readiness(msgspec.Struct):
    status: Literal["ready", "degraded", "not_ready"]  # degraded: Redis down, chat still works
    config: str
    database: str
    redis: str
    agents: list[str]


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
