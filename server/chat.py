"""A chat turn as a stream of events, shared by the SSE endpoint, the JSON reply and the CLI."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph.state import CompiledStateGraph

from graphs.compiler import Squad
from graphs.state import SquadContext
from nodes.classify import HISTORY_TURNS
from nodes.routing import HistoryTurn
from server.costs import turn_cost

log = logging.getLogger("esquadra.chat")

ChatEvent = tuple[str, dict[str, Any]]

INTERNAL_ERROR = {
    "code": "internal_error",
    "message": "Algo deu errado do nosso lado. Sua mensagem ficou salva; tente de novo.",
}


@dataclass(frozen=True)
class ChatTurn:
    message: str
    thread_id: str
    user_id: str | None = None
    channel: str = "api"


def new_thread_id() -> str:
    return uuid.uuid4().hex


class ChatService:
    """Runs turns through the compiled squad graph and reads threads back from the checkpointer."""

    def __init__(self, squad: Squad, graph: CompiledStateGraph) -> None:
        self.squad = squad
        self.graph = graph

    async def stream(self, turn: ChatTurn) -> AsyncIterator[ChatEvent]:
        """Yield `route`, `token`…, then `done` or `error` (always last)."""
        started = time.perf_counter()
        ttft_ms: int | None = None
        result: dict[str, Any] | None = None
        config = {
            "configurable": {"thread_id": turn.thread_id},
            # Saved with every checkpoint, so a user's threads can be found by user id later.
            "metadata": {"user_id": turn.user_id, "channel": turn.channel},
        }
        try:
            async for mode, chunk in self.graph.astream(
                {"messages": [HumanMessage(content=turn.message)]},
                config,  # type: ignore[arg-type]
                context=SquadContext(user_id=turn.user_id, channel=turn.channel),
                stream_mode=["custom", "updates"],
            ):
                if mode == "custom":
                    kind = chunk.pop("type")
                    if kind == "token" and ttft_ms is None:
                        ttft_ms = _ms_since(started)
                    yield kind, chunk
                else:
                    for update in chunk.values():
                        if isinstance(update, dict) and update.get("turn"):
                            result = update["turn"]
        except Exception:
            log.exception("turn failed on thread %s", turn.thread_id)
            yield "error", dict(INTERNAL_ERROR)
            return
        if result is None:
            yield "error", dict(INTERNAL_ERROR)
            return
        if result["error"] is not None:
            yield "error", dict(result["error"])
            return
        usage = result["usage"]
        yield (
            "done",
            {
                "thread_id": turn.thread_id,
                "agent": result["agent"],
                "offline": result["offline"],
                "usage": usage,
                "cost": self._cost(result["agent"], usage),
                "latency_ms": _ms_since(started),
                "ttft_ms": ttft_ms,
            },
        )

    async def thread_messages(self, thread_id: str) -> list[dict[str, Any]] | None:
        """The thread's conversation, or None when no such thread was ever written."""
        snapshot = await self.graph.aget_state({"configurable": {"thread_id": thread_id}})
        if not snapshot.values:
            return None
        return [_as_dict(m) for m in snapshot.values.get("messages", []) if _as_dict(m)]

    async def thread_history(self, thread_id: str) -> list[HistoryTurn]:
        """The thread's stored conversation in the router's shape ([] for a new thread)."""
        snapshot = await self.graph.aget_state({"configurable": {"thread_id": thread_id}})
        messages = snapshot.values.get("messages", []) if snapshot.values else []
        return [
            HistoryTurn(role=item["role"], content=item["content"], agent=item["agent"])
            for item in map(_as_dict, messages)
            if item is not None
        ][-HISTORY_TURNS:]

    def _cost(self, agent_id: str, usage: dict[str, int]) -> dict[str, str]:
        spec = self.squad.loaded.spec
        prices = spec.models[spec.agent(agent_id).model].price_per_1m_tokens
        return turn_cost(
            prices, spec.defaults.usd_brl, usage["input_tokens"], usage["output_tokens"]
        )


def _as_dict(message: Any) -> dict[str, Any] | None:
    if isinstance(message, HumanMessage):
        return {"role": "user", "content": message.text, "agent": None}
    if isinstance(message, AIMessage):
        return {"role": "assistant", "content": message.text, "agent": message.name}
    return None


def _ms_since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
