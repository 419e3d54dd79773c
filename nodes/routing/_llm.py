"""LLM: a structured-output call, only when every cheaper layer was unsure."""

from __future__ import annotations

import logging
from typing import Any

import openai
from pydantic import BaseModel, Field

from nodes.routing._types import Candidate, ModelUsage, RouteDecision, Scratch, decision

log = logging.getLogger("esquadra.routing")


class RouteChoice(BaseModel):
    """What the model answers: one agent id and how sure it is."""

    agent: str = Field(description="id of the agent that should answer")
    confidence: float = Field(ge=0, le=1)


class LlmLayer:
    name = "llm"

    def __init__(
        self,
        model: Any,
        agents: dict[str, str],
        threshold: float,
        history_turns: int,
        profile: str = "default",
    ) -> None:
        # `include_raw`: the reply's message too, whose usage the cost ledger prices.
        self._model = model.with_structured_output(
            RouteChoice, method="json_schema", include_raw=True
        )
        self._profile = profile  # the model profile: its prices price this call
        self._agents = agents
        self._threshold = threshold
        self._history_turns = history_turns

    async def decide(self, scratch: Scratch) -> RouteDecision | None:
        try:
            reply = await self._model.ainvoke(self._prompt(scratch))
        except (openai.APIError, ValueError) as exc:
            # The router still has the fallback agent; a failed classification must not fail
            # the turn, but it is logged so a broken provider is noticed.
            log.warning("llm routing failed: %s", exc)
            return None
        usage = getattr(reply["raw"], "usage_metadata", None)
        if usage:  # tokens spent whatever the answer: an unusable one is paid for too
            scratch.spent.append(
                ModelUsage(
                    kind="routing",
                    profile=self._profile,
                    input_tokens=usage["input_tokens"],
                    output_tokens=usage["output_tokens"],
                )
            )
        choice = reply["parsed"]
        if reply["parsing_error"] is not None:
            log.warning("llm routing failed: %s", reply["parsing_error"])
            return None
        if not isinstance(choice, RouteChoice) or choice.agent not in self._agents:
            return None
        if choice.confidence < self._threshold:
            return None
        candidates = [Candidate(agent=choice.agent, score=round(choice.confidence, 4))]
        return decision(self.name, choice.agent, choice.confidence, candidates)

    def _prompt(self, scratch: Scratch) -> list[tuple[str, str]]:
        roster = "\n".join(f"- {agent}: {about}" for agent, about in self._agents.items())
        history = scratch.history[-self._history_turns :] if self._history_turns else []
        lines = [
            f"{'dono' if t['role'] == 'user' else t.get('agent') or 'assistente'}: {t['content']}"
            for t in history
        ]
        context = "\n".join(lines) if lines else "(sem conversa anterior)"
        system = (
            "Você encaminha mensagens de donos de pequenos negócios para o especialista certo. "
            f"Especialistas:\n{roster}\n"
            'Responda só com JSON {"agent": <id>, "confidence": <0 a 1>}.'
        )
        user = f"Conversa recente:\n{context}\n\nNova mensagem: {scratch.text}"
        return [("system", system), ("human", user)]
