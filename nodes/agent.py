"""The agent node: one specialist answering the last message, with a model or offline."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage
from langgraph.runtime import Runtime

from graphs.schema import Agent
from graphs.state import SquadContext, SquadState, TurnError, TurnResult, Usage
from nodes.knowledge import Hit, KnowledgeIndex
from nodes.offline import offline_reply, stream_pieces
from nodes.routing import Router
from nodes.tools import ToolContext, ToolResult, run_tools

PROVIDER_TIMEOUT = TurnError(
    code="provider_timeout",
    message="O modelo demorou demais para responder. Sua mensagem ficou salva; tente de novo.",
)
PROVIDER_ERROR = TurnError(
    code="provider_error",
    message="O provedor do modelo falhou no meio da resposta. Sua mensagem ficou salva; "
    "tente de novo em instantes.",
)


@dataclass(frozen=True)
class AgentRuntime:
    """What an agent node needs, built once from the YAML: persona, knowledge, model or None."""

    agent: Agent
    persona: str
    knowledge: KnowledgeIndex
    model: BaseChatModel | None
    colleagues: str
    offline_notice: str
    history_messages: int  # the thread's last messages in the prompt (`sessions.prompt`)
    reply_timeout_s: float | None = None  # the model profile's `timeout_s`, for a whole reply


@dataclass(frozen=True)
class LiveAgent:
    """An agent as the registry has it now: the parts a live edit can change."""

    agent: Agent  # active, tools, description… as edited
    persona: str  # `prompt_text`
    model: BaseChatModel | None  # the agent's profile's model, shared by the agents on it
    colleagues: str  # the other active agents, as the persona sees them
    reply_timeout_s: float | None
    # Sent with each call (`astream(prompt, **params)`): temperature and max_tokens. Call
    # kwargs cost nothing measurable; `model.bind(...)` added ~10% to LangChain's per-call
    # overhead (bench/live_params.py).
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class LiveAgents:
    """One immutable snapshot of the live squad, swapped whole when the registry's revision
    moves; a turn carries the one it started with in `SquadContext.live`."""

    agents: Mapping[str, LiveAgent]
    active: frozenset[str]
    revision: int
    # The router to use: a refit of the semantic head (changed routing examples) swaps in a new
    # snapshot with a new router. None: the one compiled into the classify node.
    router: Router | None = None


AgentNode = Callable[[SquadState, Runtime[SquadContext]], Coroutine[Any, Any, dict[str, Any]]]


def make_agent_node(rt: AgentRuntime) -> AgentNode:
    """Build the async node for one agent."""
    compiled = LiveAgent(rt.agent, rt.persona, rt.model, rt.colleagues, rt.reply_timeout_s)

    async def agent_node(state: SquadState, runtime: Runtime[SquadContext]) -> dict[str, Any]:
        context = runtime.context
        live = context.live if context is not None else None
        # The registry's version of this agent, read per call; the YAML's without a registry.
        view = live.agents.get(rt.agent.id, compiled) if live is not None else compiled
        return await _answer(rt, view, state, runtime)

    agent_node.__name__ = f"agent_{rt.agent.id}"
    return agent_node


async def _answer(
    rt: AgentRuntime, view: LiveAgent, state: SquadState, runtime: Runtime[SquadContext]
) -> dict[str, Any]:
    """One reply: the tools' facts and the knowledge, then the model (or the offline answer)."""
    context = runtime.context or SquadContext()
    agent, model = view.agent, view.model
    messages = state.get("messages", [])
    question = _last_user_text(messages)
    results = run_tools(
        agent.tools,
        question,
        ToolContext(today=context.business_today(), ledger=state.get("ledger", [])),
    )
    hits = rt.knowledge.search(question)
    write = runtime.stream_writer
    if model is None:
        text = offline_reply(
            rt.offline_notice, agent.description, results, hits, context.facts, question
        )
        for piece in stream_pieces(text):
            write({"type": "token", "text": piece})
        usage = Usage(input_tokens=0, output_tokens=0)
    else:
        prompt = _prompt(rt, view.persona, view.colleagues, messages, results, hits, context.facts)
        try:
            # One deadline for the whole reply (a provider trickling keep-alives would
            # never trip a read timeout).
            async with asyncio.timeout(view.reply_timeout_s):
                text, usage = await _stream_model(model, prompt, write, view.params)
        except (openai.APITimeoutError, TimeoutError):
            return _failed(rt, PROVIDER_TIMEOUT)
        except openai.APIError:  # a broken stream surfaces as APIConnectionError
            return _failed(rt, PROVIDER_ERROR)
    return {
        "messages": [AIMessage(content=text, name=rt.agent.id)],
        "active_agent": rt.agent.id,
        "turn": TurnResult(agent=rt.agent.id, offline=model is None, usage=usage, error=None),
        "ledger": [entry for result in results for entry in result.ledger_entries],
    }


async def _stream_model(
    model: BaseChatModel,
    prompt: list[AnyMessage],
    write: Callable[[Any], None],
    params: Mapping[str, Any],
) -> tuple[str, Usage]:
    # One `token` event per chunk: the squad's models already merge tokens that arrive within
    # `COALESCE_S` at the transport (llm/models.py), so the node holds nothing back.
    text: list[str] = []
    usage = Usage(input_tokens=0, output_tokens=0)
    async for chunk in model.astream(prompt, **params):
        if isinstance(chunk.content, str) and chunk.content:
            text.append(chunk.content)
            write({"type": "token", "text": chunk.content})
        if chunk.usage_metadata:
            usage = Usage(
                input_tokens=chunk.usage_metadata["input_tokens"],
                output_tokens=chunk.usage_metadata["output_tokens"],
            )
    return "".join(text), usage


def _failed(rt: AgentRuntime, error: TurnError) -> dict[str, Any]:
    # No assistant message: the thread keeps the user's message and the turn records the failure.
    return {
        "active_agent": rt.agent.id,
        "turn": TurnResult(
            agent=rt.agent.id,
            offline=False,
            usage=Usage(input_tokens=0, output_tokens=0),
            error=error,
        ),
    }


def _last_user_text(messages: list[AnyMessage]) -> str:
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            return message.text if hasattr(message, "text") else str(message.content)
    return ""


def _prompt(
    rt: AgentRuntime,
    persona: str,
    colleagues: str,
    history: list[AnyMessage],
    results: list[ToolResult],
    hits: list[Hit],
    facts: tuple[str, ...] = (),
) -> list[AnyMessage]:
    system = [persona.strip(), f"Seus colegas na equipe:\n{colleagues}"]
    if facts:
        system.append(
            "O que o dono já contou sobre o negócio (use quando ajudar):\n"
            + "\n".join(f"- {fact}" for fact in facts)
        )
    if results:
        facts = "\n".join(f"- ({r.tool}) {r.text}" for r in results)
        system.append(
            "Fatos verificados pelas ferramentas nesta mensagem (use exatamente estes números):\n"
            + facts
        )
    if hits:
        passages = "\n\n".join(
            f"[{h.passage.source} › {h.passage.title}]\n{h.passage.text}" for h in hits
        )
        system.append(f"Trechos da sua base de conhecimento:\n{passages}")
    return [SystemMessage(content="\n\n".join(system)), *history[-rt.history_messages :]]
