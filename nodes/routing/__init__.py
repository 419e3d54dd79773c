"""Multi-layer message routing: rules, follow-up, semantic head, LLM — cheapest first."""

from nodes.routing._followup import (
    DEFAULT_WEIGHTS,
    PAIR_FEATURES,
    Context,
    ContextModel,
    FollowupLayer,
    pair_features,
)
from nodes.routing._lexical import ExamplesLayer
from nodes.routing._llm import LlmLayer, RouteChoice
from nodes.routing._router import Router
from nodes.routing._rules import RulesLayer
from nodes.routing._semantic import HeadModels, SemanticHead, SemanticLayer, fit_head_models
from nodes.routing._types import (
    Candidate,
    HistoryTurn,
    Layer,
    RouteDecision,
    Scratch,
    previous_agent,
)

__all__ = [
    "DEFAULT_WEIGHTS",
    "PAIR_FEATURES",
    "Candidate",
    "Context",
    "ContextModel",
    "ExamplesLayer",
    "FollowupLayer",
    "HeadModels",
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
    "fit_head_models",
    "pair_features",
    "previous_agent",
]
