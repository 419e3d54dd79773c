"""The classify node: picks the agent for the last user message and jumps to it."""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.runtime import Runtime
from langgraph.types import Command

from graphs.state import SquadContext, SquadState
from nodes.routing import HistoryTurn, Router

ClassifyNode = Callable[[SquadState, Runtime[SquadContext]], Coroutine[Any, Any, Command[str]]]


def conversation_history(messages: list[AnyMessage], window: int) -> tuple[str, list[HistoryTurn]]:
    """The last user message and up to `window` messages before it, in the router's shape."""
    last = max((i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=None)
    if last is None:
        return "", []
    history: list[HistoryTurn] = []
    for message in messages[max(0, last - window) : last]:
        if isinstance(message, HumanMessage):
            history.append(HistoryTurn(role="user", content=message.text, agent=None))
        elif isinstance(message, AIMessage):
            history.append(HistoryTurn(role="assistant", content=message.text, agent=message.name))
    return messages[last].text, history


def make_classify_node(router: Router, history_window: int) -> ClassifyNode:
    """Build the node; `router` is compiled once from the YAML and used when the turn's live
    snapshot brings none.

    `history_window`: how many messages before the new one the router reads
    (`sessions.prompt.routing_messages`).
    """

    async def classify(state: SquadState, runtime: Runtime[SquadContext]) -> Command[str]:
        text, history = conversation_history(state.get("messages", []), history_window)
        context = runtime.context
        live = context.live if context is not None else None
        meter = context.meter if context is not None else None
        spent = meter.calls if meter is not None else None
        started = time.perf_counter()
        if live is None:
            decision = await router.route(text, history, spent=spent)
        else:
            # The snapshot's router (its head refitted on live routing examples, once ready)
            # and the registry's switch: a switched-off agent's messages go to the fallback.
            current = router if live.router is None else live.router
            decision = await current.route(text, history, live.active, spent=spent)
        if meter is not None:
            meter.routing_s = time.perf_counter() - started
        runtime.stream_writer(
            {
                "type": "route",
                "agent": decision["agent"],
                "layer": decision["layer"],
                "confidence": decision["confidence"],
                "candidates": decision["candidates"],
            }
        )
        return Command(goto=decision["agent"], update={"route": decision, "turn": None})

    return classify
