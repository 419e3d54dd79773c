"""The [S1] router: explicit mentions and keywords first, then overlap with routing examples.

Each layer scores every active agent and decides only when its best candidate clears the layer's
threshold; otherwise the next layer runs, and the fallback agent answers when none is sure.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypedDict

from graphs.schema import Agent, ExamplesLayer, RulesLayer, SquadSpec
from nodes.text import content_tokens, fold


class Candidate(TypedDict):
    agent: str
    score: float


class RouteDecision(TypedDict):
    """Which agent answers, which layer decided and how sure it was."""

    agent: str
    layer: str
    confidence: float
    candidates: list[Candidate]


_MENTION_VERBS = r"(?:fala|falar|chama|chamar|passa|passar|manda|mandar|transfere|quero)"


@dataclass(frozen=True)
class _AgentProfile:
    id: str
    mention: re.Pattern[str]
    keywords: tuple[str, ...]
    patterns: tuple[re.Pattern[str], ...]
    examples: tuple[frozenset[str], ...]


def _profile(agent: Agent) -> _AgentProfile:
    names = sorted({fold(agent.id), fold(agent.name)}, key=len, reverse=True)
    alternatives = "|".join(re.escape(name) for name in names)
    mention = re.compile(
        rf"@(?:{alternatives})\b"
        rf"|\b{_MENTION_VERBS}\s+(?:com\s+)?(?:[oa]\s+)?(?:{alternatives})\b"
        rf"|^\s*(?:oi\s+|ola\s+|e\s+ai\s+)?(?:{alternatives})\s*[,:!]"
    )
    return _AgentProfile(
        id=agent.id,
        mention=mention,
        keywords=tuple(fold(k) for k in agent.routing.keywords),
        patterns=tuple(re.compile(p, re.IGNORECASE) for p in agent.routing.patterns),
        examples=tuple(
            frozenset(content_tokens(example))
            for example in agent.routing.examples
            if content_tokens(example)
        ),
    )


def _keyword_hits(profile: _AgentProfile, folded: str) -> int:
    hits = sum(1 for k in profile.keywords if re.search(rf"\b{re.escape(k)}", folded))
    return hits + sum(1 for p in profile.patterns if p.search(folded))


def _ranked(scores: dict[str, float]) -> list[Candidate]:
    return [
        Candidate(agent=agent, score=round(score, 4))
        for agent, score in sorted(scores.items(), key=lambda item: item[1], reverse=True)
    ]


class Router:
    """Routes one message among the squad's active agents."""

    def __init__(self, spec: SquadSpec) -> None:
        self._profiles = [_profile(agent) for agent in spec.active_agents()]
        self._layers = spec.classifier.layers
        self._fallback = spec.defaults.fallback_agent

    def route(self, text: str) -> RouteDecision:
        """Decide who answers `text`; never returns an inactive agent."""
        folded = fold(text)
        best: list[Candidate] = []
        for layer in self._layers:
            if isinstance(layer, RulesLayer):
                mentioned = [p.id for p in self._profiles if p.mention.search(folded)]
                if len(mentioned) == 1:
                    return RouteDecision(
                        agent=mentioned[0],
                        layer="mention",
                        confidence=1.0,
                        candidates=[Candidate(agent=mentioned[0], score=1.0)],
                    )
                candidates = self._keywords(folded)
            elif isinstance(layer, ExamplesLayer):
                candidates = self._examples(text)
            decided = _decide(layer.type, layer.threshold, candidates)
            if decided is not None:
                return decided
            best = best or candidates
        return RouteDecision(
            agent=self._fallback, layer="fallback", confidence=0.0, candidates=best
        )

    def _keywords(self, folded: str) -> list[Candidate]:
        hits = {p.id: _keyword_hits(p, folded) for p in self._profiles}
        total = sum(hits.values())
        if total == 0:
            return []
        # A share of the hits, discounted when the evidence is a single word.
        return _ranked(
            {agent: (n / total) * (1 - 0.5**n) if n else 0.0 for agent, n in hits.items()}
        )

    def _examples(self, text: str) -> list[Candidate]:
        query = frozenset(content_tokens(text))
        if not query:
            return []
        return _ranked({p.id: _best_overlap(query, p.examples) for p in self._profiles})


def _best_overlap(query: frozenset[str], examples: Sequence[frozenset[str]]) -> float:
    """Cosine similarity of binary bags of words, best example wins."""
    return max(
        (len(query & example) / math.sqrt(len(query) * len(example)) for example in examples),
        default=0.0,
    )


def _decide(layer: str, threshold: float, candidates: list[Candidate]) -> RouteDecision | None:
    if not candidates:
        return None
    top = candidates[0]
    runner_up = candidates[1]["score"] if len(candidates) > 1 else 0.0
    if top["score"] < threshold or top["score"] <= runner_up:
        return None
    confidence = min(1.0, top["score"])
    return RouteDecision(
        agent=top["agent"], layer=layer, confidence=round(confidence, 4), candidates=candidates
    )
