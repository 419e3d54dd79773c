"""Rules: explicit mentions always win; per-agent keywords and patterns decide when unambiguous."""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.text import fold
from graphs.schema import Agent
from nodes.routing._types import Candidate, RouteDecision, Scratch, decision, ranked

_MENTION_VERBS = (
    r"(?:fala|falar|chama|chamar|passa|passar|manda|mandar|transfere|transferir|quero|queria"
    r"|preciso|pergunta|perguntar)"
)


@dataclass(frozen=True)
class _AgentRules:
    id: str
    mention: re.Pattern[str]
    keywords: tuple[re.Pattern[str], ...]
    patterns: tuple[re.Pattern[str], ...]


def _compile(agent: Agent) -> _AgentRules:
    names = sorted({fold(agent.id), fold(agent.name)}, key=len, reverse=True)
    alternatives = "|".join(re.escape(name) for name in names)
    mention = re.compile(
        rf"[@/](?:{alternatives})\b"
        rf"|\b{_MENTION_VERBS}\s+(?:com\s+)?(?:[oa]\s+)?(?:{alternatives})\b"
        rf"|^\s*(?:oi\s+|ola\s+|e\s+ai\s+|bom\s+dia\s+|boa\s+tarde\s+|boa\s+noite\s+)?"
        rf"(?:{alternatives})\s*[,:!?]"
    )
    return _AgentRules(
        id=agent.id,
        mention=mention,
        keywords=tuple(re.compile(rf"\b{re.escape(fold(k))}") for k in agent.routing.keywords),
        patterns=tuple(re.compile(p, re.IGNORECASE) for p in agent.routing.patterns),
    )


class RulesLayer:
    """Mentions decide with confidence 1; keyword hits decide above the threshold if allowed."""

    name = "rules"

    def __init__(self, agents: list[Agent], threshold: float, keywords_decide: bool) -> None:
        self._agents = [_compile(agent) for agent in agents]
        self._threshold = threshold
        self._keywords_decide = keywords_decide

    def mentioned(self, folded: str) -> str | None:
        """The one agent the message names explicitly, if exactly one."""
        named = [a.id for a in self._agents if a.mention.search(folded)]
        return named[0] if len(named) == 1 else None

    def keyword_scores(self, folded: str) -> list[Candidate]:
        hits = {a.id: _hits(a, folded) for a in self._agents}
        total = sum(hits.values())
        if total == 0:
            return []
        # A share of the hits, discounted when the evidence is a single word.
        return ranked({agent: (n / total) * (1 - 0.5**n) for agent, n in hits.items()})

    async def decide(self, scratch: Scratch) -> RouteDecision | None:
        agent = self.mentioned(scratch.folded)
        if agent is not None:
            return decision("mention", agent, 1.0, [Candidate(agent=agent, score=1.0)])
        candidates = self.keyword_scores(scratch.folded)
        scratch.notes["keywords"] = candidates
        if not self._keywords_decide or not candidates:
            return None
        top = candidates[0]
        runner_up = candidates[1]["score"] if len(candidates) > 1 else 0.0
        if top["score"] >= self._threshold and top["score"] > runner_up:
            return decision(self.name, top["agent"], top["score"], candidates)
        return None


def _hits(agent: _AgentRules, folded: str) -> int:
    return sum(1 for k in agent.keywords if k.search(folded)) + sum(
        1 for p in agent.patterns if p.search(folded)
    )
