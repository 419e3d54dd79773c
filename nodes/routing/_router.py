"""The router: runs the declared layers in order until one is sure; else the fallback agent."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from core.text import fold
from nodes.routing._followup import FollowupLayer
from nodes.routing._semantic import SemanticHead, SemanticLayer
from nodes.routing._types import (
    HistoryTurn,
    Layer,
    ModelUsage,
    RouteDecision,
    Scratch,
    decision,
    ranked,
)


class Router:
    """Routes one message (and its conversation) among the squad's active agents.

    The layers know every agent of the squad, switched off or not, so switching one on or off
    needs no retraining: `active` (the YAML's, or the live registry's per call) is only a
    filter, and a message for a switched-off agent goes to the fallback agent.
    """

    def __init__(
        self,
        layers: Sequence[Layer],
        agents: Sequence[str],
        fallback: str,
        active: Collection[str] | None = None,
    ) -> None:
        self.layers = list(layers)
        self.agents = list(agents)
        self.fallback = fallback
        self.active = frozenset(self.agents if active is None else active)

    @property
    def head(self) -> SemanticHead | None:
        """The semantic head the layers read (None without a semantic or follow-up layer)."""
        for layer in self.layers:
            if isinstance(layer, (SemanticLayer, FollowupLayer)) and layer.head is not None:
                return layer.head
        return None

    def with_head(self, head: SemanticHead) -> Router:
        """A new router whose layers read `head`; this one is left as it is (turns in flight
        keep routing with it). Everything fitted (thresholds, follow-up model) is kept."""
        layers = [
            layer.with_head(head) if isinstance(layer, (SemanticLayer, FollowupLayer)) else layer
            for layer in self.layers
        ]
        return Router(layers, self.agents, self.fallback, self.active)

    async def route(
        self,
        text: str,
        history: Sequence[HistoryTurn] = (),
        active: Collection[str] | None = None,
        spent: list[ModelUsage] | None = None,
    ) -> RouteDecision:
        """Decide who answers `text`; never an inactive agent (`active`: the live set, else the
        set the router was built with). Model calls a layer makes are appended to `spent`."""
        allowed = self.active if active is None else active
        scratch = Scratch(text=text, folded=fold(text), history=list(history))
        if spent is not None:
            scratch.spent = spent
        for layer in self.layers:
            verdict = await layer.decide(scratch)
            if verdict is None:
                continue
            if verdict["agent"] in allowed:
                return _among(verdict, allowed)
            if verdict["agent"] in self.agents:  # sure, but that agent is switched off
                return _among(
                    decision("fallback", self.fallback, 0.0, verdict["candidates"]), allowed
                )
        candidates = ranked(scratch.probabilities) if scratch.probabilities else []
        return _among(decision("fallback", self.fallback, 0.0, candidates), allowed)


def _among(verdict: RouteDecision, allowed: Collection[str]) -> RouteDecision:
    """The decision with switched-off agents left out of its candidates."""
    candidates = verdict["candidates"]
    if all(c["agent"] in allowed for c in candidates):
        return verdict
    kept = [c for c in candidates if c["agent"] in allowed]
    return decision(verdict["layer"], verdict["agent"], verdict["confidence"], kept)
