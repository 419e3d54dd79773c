"""Multi-layer message routing: rules, follow-up, semantic head, LLM — cheapest first."""

from nodes.routing._followup import (
    DEFAULT_SWITCH_THRESHOLD,
    DEFAULT_WEIGHTS,
    FEATURES,
    FollowupLayer,
    FollowupModel,
    followup_features,
)
from nodes.routing._lexical import ExamplesLayer
from nodes.routing._llm import LlmLayer, RouteChoice
from nodes.routing._router import Router
from nodes.routing._rules import RulesLayer
from nodes.routing._semantic import SemanticHead, SemanticLayer
from nodes.routing._types import (
    Candidate,
    HistoryTurn,
    Layer,
    RouteDecision,
    Scratch,
    previous_agent,
)

__all__ = [
    "DEFAULT_SWITCH_THRESHOLD",
    "DEFAULT_WEIGHTS",
    "FEATURES",
    "Candidate",
    "ExamplesLayer",
    "FollowupLayer",
    "FollowupModel",
    "HistoryTurn",
    "Layer",
    "LlmLayer",
    "RouteChoice",
    "RouteDecision",
    "Router",
    "RulesLayer",
    "Scratch",
    "SemanticHead",
    "SemanticLayer",
    "followup_features",
    "previous_agent",
]
