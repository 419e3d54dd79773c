"""Follow-up: short or anaphoric messages stay with the agent that answered last.

"gostei da 2, escreve a legenda", "e pra semana que vem?", "pode mandar" carry no topic of their
own; the conversation does. A small logistic model over surface features of the message and the
semantic head's view of it estimates P(stay with the previous agent); `esquadra fit-routing`
fits its weights on the training split's conversations. A confident topic switch ("ah, e a
funcionária nova pode começar segunda?") scores low because the head is sure of another agent.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from core.text import content_tokens, tokens
from nodes.routing._semantic import SemanticHead, ensure_probabilities
from nodes.routing._types import Candidate, RouteDecision, Scratch, decision

_ANAPHORA = re.compile(
    r"\b(isso|esse|essa|esses|essas|isto|ele|ela|dele|dela|deles|delas|nisso|disso|nele|nela"
    r"|mesmo|mesma|outra|outro|tambem|tb|tbm|entao|mais|menos|ai|la|aquele|aquela|ultima"
    r"|primeira|segunda|terceira|opcao|versao|sobre)\b"
)
_STARTS_WITH_AND = re.compile(r"^\s*(e|mas|ah|ahh|tipo|so|agora|ok|blz|beleza)\b")
_ACK = re.compile(
    r"\b(ok|blz|beleza|valeu|vlw|obrigad[oa]|brigad[oa]|show|perfeito|top|massa|otimo|certo"
    r"|combinado|fechado|entendi|pode|manda|faz|fazer|escreve|muda|troca|deixa|sim|nao|isso ai"
    r"|gostei|curti|amei)\b"
)
_CHOICE = re.compile(r"\b(a|o|da|do|na|no|opcao|numero)\s*\d\b|^\s*\d\s*$")

# A head this sure of another agent means a topic switch, however short the message.
DEFAULT_SWITCH_THRESHOLD = 0.8

FEATURES = (
    "bias",
    "short",
    "inverse_length",
    "anaphora",
    "starts_with_and",
    "acknowledgement",
    "choice",
    "p_previous",
    "p_top_other",
)

# Before `fit-routing` has run: stay when the message looks like a follow-up and the head is not
# confident that another agent is meant.
DEFAULT_WEIGHTS = {
    "bias": -1.5,
    "short": 1.5,
    "inverse_length": 1.0,
    "anaphora": 1.0,
    "starts_with_and": 1.5,
    "acknowledgement": 1.0,
    "choice": 1.5,
    "p_previous": 2.0,
    "p_top_other": -3.0,
}


def followup_features(text: str, previous: str, probabilities: dict[str, float]) -> list[float]:
    """The model's inputs, in `FEATURES` order."""
    folded_tokens = tokens(text)
    folded = " ".join(folded_tokens)
    n_content = len(content_tokens(text))
    others = [p for agent, p in probabilities.items() if agent != previous]
    return [
        1.0,
        1.0 if n_content <= 3 else 0.0,
        1.0 / (1 + len(folded_tokens)),
        1.0 if _ANAPHORA.search(folded) else 0.0,
        1.0 if _STARTS_WITH_AND.search(folded) else 0.0,
        1.0 if _ACK.search(folded) else 0.0,
        1.0 if _CHOICE.search(folded) else 0.0,
        probabilities.get(previous, 0.0),
        max(others, default=0.0),
    ]


@dataclass(frozen=True)
class FollowupModel:
    weights: dict[str, float]

    def p_stay(self, features: Sequence[float]) -> float:
        z = sum(self.weights.get(name, 0.0) * x for name, x in zip(FEATURES, features, strict=True))
        return 1.0 / (1.0 + math.exp(-z))


class FollowupLayer:
    name = "followup"

    def __init__(
        self,
        model: FollowupModel,
        threshold: float,
        head: SemanticHead | None,
        agents: set[str],
        switch_threshold: float = DEFAULT_SWITCH_THRESHOLD,
    ) -> None:
        self._model = model
        self._threshold = threshold
        self._head = head
        self._agents = agents
        self._switch_threshold = switch_threshold

    @property
    def head(self) -> SemanticHead | None:
        return self._head

    def with_head(self, head: SemanticHead) -> FollowupLayer:
        """The same fitted follow-up model reading another head's scores."""
        return FollowupLayer(
            self._model, self._threshold, head, self._agents, self._switch_threshold
        )

    async def decide(self, scratch: Scratch) -> RouteDecision | None:
        previous = scratch.previous_agent
        if previous is None or previous not in self._agents:
            return None
        probabilities = (
            await ensure_probabilities(self._head, scratch) if self._head is not None else {}
        )
        top = max(probabilities, key=probabilities.__getitem__) if probabilities else previous
        if top != previous and probabilities[top] >= self._switch_threshold:
            return None  # the semantic head is sure the topic moved: let it decide
        p_stay = self._model.p_stay(followup_features(scratch.text, previous, probabilities))
        scratch.notes["p_stay"] = p_stay
        if p_stay < self._threshold:
            return None
        candidates = [Candidate(agent=previous, score=round(p_stay, 4))]
        return decision(self.name, previous, p_stay, candidates)
