"""Shapes shared by the routing layers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from graphs.state import Candidate, HistoryTurn, ModelUsage, RouteDecision

__all__ = [
    "Candidate",
    "HistoryTurn",
    "Layer",
    "ModelUsage",
    "RouteDecision",
    "Scratch",
    "decision",
    "previous_agent",
    "ranked",
]


@dataclass
class Scratch:
    """Per-message values that several layers read, computed at most once."""

    text: str
    folded: str
    history: list[HistoryTurn]
    probabilities: dict[str, float] | None = None
    notes: dict[str, object] = field(default_factory=dict)
    # Model calls the layers made for this message (the llm layer's usage), for the cost ledger.
    spent: list[ModelUsage] = field(default_factory=list)

    @property
    def previous_agent(self) -> str | None:
        """The agent that answered last in this conversation."""
        return previous_agent(self.history)


def previous_agent(history: list[HistoryTurn]) -> str | None:
    """The agent that answered last in a conversation, if any."""
    for turn in reversed(history):
        if turn["role"] == "assistant" and turn.get("agent"):
            return turn["agent"]
    return None


class Layer(Protocol):
    name: str

    async def decide(self, scratch: Scratch) -> RouteDecision | None:
        """A decision when sure, else None (the next layer runs)."""
        ...


def ranked(scores: dict[str, float]) -> list[Candidate]:
    return [
        Candidate(agent=agent, score=round(float(score), 4))
        for agent, score in sorted(scores.items(), key=lambda item: item[1], reverse=True)
    ]


def decision(
    layer: str, agent: str, confidence: float, candidates: list[Candidate]
) -> RouteDecision:
    return RouteDecision(
        agent=agent, layer=layer, confidence=round(float(confidence), 4), candidates=candidates
    )
