"""Follow-up: the conversation decides who answers a message that points into it.

"gostei da 2, escreve a legenda", "manda isso em tabela", "o 3 ai, ela pode recusar o vale?"
carry little topic of their own, or another domain's words; the conversation does. A small
conditional-logit model scores every agent from the message's head probabilities AND its
context: the head's view of the last assistant reply and of the previous user message (lexical
stage only: ~0.3 ms, no embedding), whether the agent answered last, and — for that agent — the
message's shape (short, anaphora, "e …" openings, acknowledgements, an item by its number, a
request to reformat or resend) and how many of its words come from the reply. The weights are
shared by all agents (features are per agent), so a new agent needs no re-fit;
`esquadra fit-routing` fits them on the training conversations.

The layer decides when the previous agent wins with P ≥ threshold; otherwise it leaves its
context-aware probabilities for the semantic layer, which decides with them (a topic switch
such as "ah, e a funcionária nova pode começar segunda?" goes to the agent the model prefers).
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.text import content_tokens, fold, tokens
from nodes.routing._semantic import SemanticHead, ensure_probabilities
from nodes.routing._types import HistoryTurn, RouteDecision, Scratch, decision, ranked

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
_CHOICE = re.compile(
    r"\b(a|o|da|do|na|no|opcao|numero|item|ponto|passo)\s*\d\b|^\s*\d\s*$"
    r"|\b(primeir[oa]|segund[oa]|terceir[oa]|quart[oa]|quint[oa]|ultim[oa])\b"
)
# Asking for the last reply again, in another form.
_REFORMAT = re.compile(
    r"\b(tabela|topicos|resum\w*|reescrev\w*|de novo|novamente|outra versao|mais curt\w*"
    r"|mais format\w*|mais informal|formato|lista|em \w+ linhas|grafico|planilha|sem os? numeros"
    r"|manda (isso|de novo|so)|coloca (isso|em)|detalha|explica melhor|simplifica)\b"
)

# Saying the topic changes: "outra coisa", "mudando de assunto", "agora uma de marketing".
_SWITCH = re.compile(
    r"\b(outra coisa|outro assunto|mudando de assunto|muda(ndo)? de assunto|outra pergunta"
    r"|outra duvida|vamos pra outra|agora (uma|outra)|aproveitando|falando nisso|alias"
    r"|uma de (marketing|rh|financ\w*|caixa|pessoal))\b"
)

PAIR_FEATURES = (
    "log_p_message",
    "p_reply",
    "p_previous_user",
    "is_previous",
    "previous_x_short",
    "previous_x_inverse_length",
    "previous_x_anaphora",
    "previous_x_starts_with_and",
    "previous_x_acknowledgement",
    "previous_x_choice",
    "previous_x_reformat",
    "previous_x_overlap",
    "previous_x_switch_cue",
)

# Before `fit-routing` has run: the message's own probabilities, pulled towards the agent that
# answered last when the message looks like a follow-up.
DEFAULT_WEIGHTS = {
    "log_p_message": 1.0,
    "p_reply": 1.0,
    "p_previous_user": 0.5,
    "is_previous": 0.5,
    "previous_x_short": 1.5,
    "previous_x_inverse_length": 2.0,
    "previous_x_anaphora": 0.5,
    "previous_x_starts_with_and": 0.5,
    "previous_x_acknowledgement": 0.5,
    "previous_x_choice": 1.5,
    "previous_x_reformat": 1.5,
    "previous_x_overlap": 1.0,
    "previous_x_switch_cue": -2.0,
}

# The reply's first characters say what it is about; a long reply's n-grams cost ~5 ms.
REPLY_CHARS = 400


@dataclass(frozen=True)
class Context:
    """What the conversation says about a message: who answered last (named, or inferred from
    the reply when the history carries no agent names) and the head's view of the last reply
    and of the previous user message (empty when absent)."""

    previous: str | None
    reply: str
    reply_probabilities: dict[str, float]
    user_probabilities: dict[str, float]


def shape_features(text: str, reply: str) -> list[float]:
    """The message's follow-up shape, in PAIR_FEATURES' `previous_x_*` order."""
    folded_tokens = tokens(text)
    folded = " ".join(folded_tokens)
    words = content_tokens(text)
    reply_words = set(content_tokens(reply))
    overlap = sum(w in reply_words for w in words) / len(words) if words else 0.0
    return [
        1.0 if len(words) <= 3 else 0.0,
        1.0 / (1 + len(folded_tokens)),
        1.0 if _ANAPHORA.search(folded) else 0.0,
        1.0 if _STARTS_WITH_AND.search(folded) else 0.0,
        1.0 if _ACK.search(folded) else 0.0,
        1.0 if _CHOICE.search(folded) else 0.0,
        1.0 if _REFORMAT.search(folded) else 0.0,
        overlap,
        1.0 if _SWITCH.search(folded) else 0.0,
    ]


def pair_features(
    text: str, probabilities: dict[str, float], context: Context, agents: Sequence[str]
) -> np.ndarray:
    """One row of PAIR_FEATURES per agent (in `agents` order)."""
    shape = shape_features(text, context.reply)
    rows = []
    for agent in agents:
        is_previous = 1.0 if agent == context.previous else 0.0
        rows.append(
            [
                math.log(max(probabilities.get(agent, 0.0), 1e-6)),
                context.reply_probabilities.get(agent, 0.0),
                context.user_probabilities.get(agent, 0.0),
                is_previous,
                *(is_previous * x for x in shape),
            ]
        )
    return np.asarray(rows, dtype=np.float64)


@dataclass(frozen=True)
class ContextModel:
    weights: dict[str, float]

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """Softmax over agents of each agent's score."""
        w = np.array([self.weights.get(name, 0.0) for name in PAIR_FEATURES])
        scores = features @ w
        exp = np.exp(scores - scores.max())
        return exp / exp.sum()


def last_turns(history: Sequence[HistoryTurn]) -> tuple[str, str]:
    """(last assistant reply, the user message before it), "" when absent."""
    reply, user = "", ""
    for index in range(len(history) - 1, -1, -1):
        if history[index]["role"] == "assistant":
            reply = history[index]["content"]
            user = next(
                (t["content"] for t in reversed(history[:index]) if t["role"] == "user"), ""
            )
            break
    return reply, user


class FollowupLayer:
    name = "followup"

    def __init__(
        self,
        model: ContextModel,
        threshold: float,
        head: SemanticHead | None,
        agents: set[str],
    ) -> None:
        self._model = model
        self._threshold = threshold
        self._head = head
        self._agents = agents
        # The same reply and previous message come back on every turn of a conversation (and
        # the previous message was this layer's input one turn ago): keep their lexical view.
        self._views: OrderedDict[str, dict[str, float]] = OrderedDict()

    @property
    def head(self) -> SemanticHead | None:
        return self._head

    def with_head(self, head: SemanticHead) -> FollowupLayer:
        """The same fitted context model reading another head's scores."""
        return FollowupLayer(self._model, self._threshold, head, self._agents)

    def lexical_view(self, text: str) -> dict[str, float]:
        """The head's lexical probabilities for a history text, cached."""
        if not text or self._head is None:
            return {}
        key = fold(text[:REPLY_CHARS])
        view = self._views.get(key)
        if view is None:
            view = self._head.lexical_probabilities(self._head.lexical_features(text[:REPLY_CHARS]))
            self._views[key] = view
            if len(self._views) > 4096:
                self._views.popitem(last=False)
        else:
            self._views.move_to_end(key)
        return view

    def context(self, history: Sequence[HistoryTurn], named: str | None) -> Context:
        reply, user = last_turns(history)
        reply_view, user_view = self.lexical_view(reply), self.lexical_view(user)
        previous = named
        if previous is None and reply_view:
            # History without agent names (an import, another channel): the agent that answered
            # is the one the question and its answer were about. The question alone is the
            # better guess (it is an owner's message, like the head's training texts); the
            # reply breaks ties.
            both = {a: user_view.get(a, 0.0) + 0.5 * p for a, p in reply_view.items()}
            previous = max(both, key=both.__getitem__)
        return Context(previous, reply, reply_view, user_view)

    async def decide(self, scratch: Scratch) -> RouteDecision | None:
        if self._head is None:
            return None
        context = self.context(scratch.history, scratch.previous_agent)
        if context.previous is None or context.previous not in self._agents:
            return None
        probabilities = await ensure_probabilities(self._head, scratch)
        agents = list(probabilities)
        q = self._model.probabilities(pair_features(scratch.text, probabilities, context, agents))
        in_context = {agent: float(p) for agent, p in zip(agents, q, strict=True)}
        # The semantic layer (and the fallback's candidates) now read the conversation's view.
        scratch.probabilities = in_context
        scratch.notes["p_stay"] = in_context[context.previous]
        top = max(in_context, key=in_context.__getitem__)
        if top != context.previous or in_context[top] < self._threshold:
            return None
        return decision(self.name, top, in_context[top], ranked(in_context))
