"""Examples: word overlap with each agent's routing examples (cheap, no model)."""

from __future__ import annotations

import math

from core.text import content_tokens
from graphs.schema import Agent
from nodes.routing._types import RouteDecision, Scratch, decision, ranked


class ExamplesLayer:
    name = "examples"

    def __init__(self, agents: list[Agent], threshold: float) -> None:
        self._examples = {
            agent.id: [frozenset(content_tokens(e)) for e in agent.routing.examples]
            for agent in agents
        }
        self._threshold = threshold

    async def decide(self, scratch: Scratch) -> RouteDecision | None:
        query = frozenset(content_tokens(scratch.text))
        if not query:
            return None
        candidates = ranked(
            {agent: _best_overlap(query, examples) for agent, examples in self._examples.items()}
        )
        top = candidates[0]
        runner_up = candidates[1]["score"] if len(candidates) > 1 else 0.0
        if top["score"] >= self._threshold and top["score"] > runner_up:
            return decision(self.name, top["agent"], top["score"], candidates)
        return None


def _best_overlap(query: frozenset[str], examples: list[frozenset[str]]) -> float:
    """Cosine similarity of binary bags of words, best example wins."""
    return max(
        (len(query & e) / math.sqrt(len(query) * len(e)) for e in examples if e), default=0.0
    )
