"""The router: runs the declared layers in order until one is sure; else the fallback agent."""

from __future__ import annotations

from collections.abc import Sequence

from core.text import fold
from nodes.routing._types import HistoryTurn, Layer, RouteDecision, Scratch, decision, ranked


class Router:
    """Routes one message (and its conversation) among the squad's active agents."""

    def __init__(self, layers: Sequence[Layer], agents: Sequence[str], fallback: str) -> None:
        self.layers = list(layers)
        self.agents = list(agents)
        self.fallback = fallback

    async def route(self, text: str, history: Sequence[HistoryTurn] = ()) -> RouteDecision:
        """Decide who answers `text`; never an inactive agent."""
        scratch = Scratch(text=text, folded=fold(text), history=list(history))
        for layer in self.layers:
            verdict = await layer.decide(scratch)
            if verdict is not None and verdict["agent"] in self.agents:
                return verdict
        candidates = ranked(scratch.probabilities) if scratch.probabilities else []
        return decision("fallback", self.fallback, 0.0, candidates)
