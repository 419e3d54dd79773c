"""The classify node: picks the agent for the last user message and jumps to it."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from langchain_core.messages import HumanMessage
from langgraph.runtime import Runtime
from langgraph.types import Command

from graphs.state import SquadContext, SquadState
from nodes.routing import Router

ClassifyNode = Callable[[SquadState, Runtime[SquadContext]], Coroutine[Any, Any, Command[str]]]


def make_classify_node(router: Router) -> ClassifyNode:
    """Build the node; the router is compiled once from the YAML."""

    async def classify(state: SquadState, runtime: Runtime[SquadContext]) -> Command[str]:
        last = next(
            (m for m in reversed(state.get("messages", [])) if isinstance(m, HumanMessage)), None
        )
        decision = router.route(last.text if last is not None else "")
        runtime.stream_writer(
            {
                "type": "route",
                "agent": decision["agent"],
                "layer": decision["layer"],
                "confidence": decision["confidence"],
            }
        )
        return Command(goto=decision["agent"], update={"route": decision, "turn": None})

    return classify
