"""The agent node: one specialist answering the last message, with a model or offline."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    AnyMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langgraph.graph import END
from langgraph.runtime import Runtime
from langgraph.types import Command

from graphs.schema import Agent
from graphs.state import SquadContext, SquadState, TurnError, TurnResult, Usage
from nodes.knowledge import Hit, KnowledgeIndex
from nodes.offline import offline_reply, stream_pieces
from nodes.routing import Router
from nodes.tools import TOOLS as FACT_TOOLS
from nodes.tools import ToolContext, ToolResult, run_tools
from nodes.workflow import last_human, pending_open, tool_env, wait_node
from tools.base import ToolArgsError, ToolEnv, ToolSpec
from tools.registry import TOOLS as TYPED_TOOLS

log = logging.getLogger("esquadra.agent")

MAX_TOOL_ROUNDS = 3  # model → read tools → model: a loop that never settles stops here

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
    # Tool name → the workflow that runs it for this agent (the YAML's `workflows:`).
    workflows: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


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


AgentNode = Callable[[SquadState, Runtime[SquadContext]], Coroutine[Any, Any, Command[str]]]


def make_agent_node(rt: AgentRuntime) -> AgentNode:
    """Build the async node for one agent."""
    compiled = LiveAgent(rt.agent, rt.persona, rt.model, rt.colleagues, rt.reply_timeout_s)

    async def agent_node(state: SquadState, runtime: Runtime[SquadContext]) -> Command[str]:
        context = runtime.context
        live = context.live if context is not None else None
        # The registry's version of this agent, read per call; the YAML's without a registry.
        view = live.agents.get(rt.agent.id, compiled) if live is not None else compiled
        update = await _answer(rt, view, state, runtime)
        if isinstance(update, Command):
            return update
        # A question still waiting for sim/não: back to it, so the run stays held there.
        pending = pending_open(state)
        goto = wait_node(pending["workflow"]) if pending else END
        return Command(goto=goto, update=update)

    agent_node.__name__ = f"agent_{rt.agent.id}"
    return agent_node


async def _answer(
    rt: AgentRuntime, view: LiveAgent, state: SquadState, runtime: Runtime[SquadContext]
) -> dict[str, Any] | Command[str]:
    """One reply: the tools' facts and the knowledge, then the model (or the offline answer).

    A tool that writes (a cash entry) is never run here: its workflow takes the turn, with the
    model's arguments or, offline, the ones extracted from the message."""
    context = runtime.context or SquadContext()
    agent, model = view.agent, view.model
    messages = state.get("messages", [])
    question = _last_user_text(messages)
    fact_tools = [name for name in agent.tools if name in FACT_TOOLS]
    typed = [TYPED_TOOLS[name] for name in agent.tools if name in TYPED_TOOLS]
    results = run_tools(fact_tools, question, ToolContext(today=context.business_today()))
    hits = rt.knowledge.search(question)
    write = runtime.stream_writer
    if model is None:
        handoff, typed_results = await _offline_tools(rt, typed, messages, context)
        if handoff is not None:
            return handoff
        results.extend(typed_results)
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
                if typed:
                    outcome = await _with_tools(
                        rt, model, typed, prompt, write, view.params, state, context
                    )
                    if isinstance(outcome, Command):
                        return outcome
                    text, usage = outcome
                else:
                    text, usage = await _stream_model(model, prompt, write, view.params)
        except (openai.APITimeoutError, TimeoutError):
            return _failed(rt, PROVIDER_TIMEOUT)
        except openai.APIError:  # a broken stream surfaces as APIConnectionError
            return _failed(rt, PROVIDER_ERROR)
    return {
        "messages": [AIMessage(content=text, name=rt.agent.id)],
        "active_agent": rt.agent.id,
        "turn": TurnResult(agent=rt.agent.id, offline=model is None, usage=usage, error=None),
    }


async def _offline_tools(
    rt: AgentRuntime,
    typed: list[ToolSpec[Any, Any]],
    messages: list[AnyMessage],
    context: SquadContext,
) -> tuple[Command[str] | None, list[ToolResult]]:
    """Offline: each tool's extractor reads the message; a writing tool hands the turn to its
    workflow, a reading one runs now and its summary joins the reply."""
    human = last_human(messages)
    if human is None or not typed:
        return None, []
    env = tool_env(context, human.id)
    results: list[ToolResult] = []
    for spec in typed:
        if spec.extract is None or (raw := spec.extract(human.text, env)) is None:
            continue
        if spec.writes:
            return _handoff(rt, spec.name, raw, Usage(input_tokens=0, output_tokens=0)), []
        results.append(ToolResult(spec.name, await _run_read_tool(spec, raw, env, context)))
    return None, results


async def _run_read_tool(
    spec: ToolSpec[Any, Any], raw: dict[str, Any], env: ToolEnv, context: SquadContext
) -> str:
    """A reading tool's result as the owner reads it, or why it could not run."""
    if spec.user_scoped:
        if context.user_id is None:
            return "Não sei quem é você nesta conversa, então não consigo consultar seus dados."
        raw = {**raw, "user_id": context.user_id}
    try:
        args = spec.validate(raw)
        result = await spec.run(args, env)
    except ToolArgsError as error:
        return f"Não deu para consultar: {error.problems}"
    except Exception:  # a store down or absent (Studio): said, not raised into the turn
        log.exception("tool %s failed", spec.name)
        return "Não consegui consultar isso agora; tente de novo em instantes."
    return spec.describe(args, result)


def _handoff(
    rt: AgentRuntime, tool: str, args: dict[str, Any] | None, usage: Usage
) -> Command[str]:
    """The turn goes to the tool's workflow (the loader made sure there is one)."""
    workflow = rt.workflows[tool]
    return Command(
        goto=workflow,
        update={
            "active_agent": rt.agent.id,
            "workflow_call": {"workflow": workflow, "args": args, "usage": usage},
        },
    )


async def _with_tools(
    rt: AgentRuntime,
    model: BaseChatModel,
    typed: list[ToolSpec[Any, Any]],
    prompt: list[AnyMessage],
    write: Callable[[Any], None],
    params: Mapping[str, Any],
    state: SquadState,
    context: SquadContext,
) -> tuple[str, Usage] | Command[str]:
    """The model with the agent's tools bound: reading tools run and their results go back to
    it (at most `MAX_TOOL_ROUNDS` rounds); a writing tool hands the turn to its workflow."""
    bound = _bound(model, typed)
    by_name = {spec.name: spec for spec in typed}
    human = last_human(state.get("messages", []))
    env = tool_env(context, human.id if human else None)
    spent = Usage(input_tokens=0, output_tokens=0)
    conversation = list(prompt)
    text = ""
    for round_ in range(MAX_TOOL_ROUNDS + 1):
        # The last round goes without tools, so the model has to answer in words.
        runnable = bound if round_ < MAX_TOOL_ROUNDS else model
        text, usage, calls = await _stream_calls(runnable, conversation, write, params)
        spent = Usage(
            input_tokens=spent["input_tokens"] + usage["input_tokens"],
            output_tokens=spent["output_tokens"] + usage["output_tokens"],
        )
        if calls is None or not calls.tool_calls:
            return text, spent
        replies: list[ToolMessage] = []
        for call in calls.tool_calls:
            spec = by_name.get(call["name"])
            if spec is not None and spec.writes:
                return _handoff(rt, spec.name, dict(call["args"]), spent)
            if spec is None:
                content = f"ferramenta desconhecida: {call['name']}"
            else:
                content = await _run_read_tool(spec, dict(call["args"]), env, context)
            replies.append(ToolMessage(content=content, tool_call_id=call["id"] or call["name"]))
        conversation += [AIMessage(content=text, tool_calls=calls.tool_calls), *replies]
    return text, spent


# Bound once per model and tool list: `bind_tools` converts every schema again on each call.
_BOUND: dict[tuple[int, tuple[str, ...]], tuple[BaseChatModel, Any]] = {}


def _bound(model: BaseChatModel, typed: list[ToolSpec[Any, Any]]) -> Any:
    key = (id(model), tuple(spec.name for spec in typed))
    cached = _BOUND.get(key)
    if cached is None or cached[0] is not model:
        cached = (model, model.bind_tools([spec.model_schema() for spec in typed]))
        _BOUND[key] = cached
    return cached[1]


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


async def _stream_calls(
    model: Any,
    prompt: list[AnyMessage],
    write: Callable[[Any], None],
    params: Mapping[str, Any],
) -> tuple[str, Usage, AIMessageChunk | None]:
    """`_stream_model` that also gathers the tool calls streamed in pieces."""
    text: list[str] = []
    usage = Usage(input_tokens=0, output_tokens=0)
    calls: AIMessageChunk | None = None
    async for chunk in model.astream(prompt, **params):
        if isinstance(chunk.content, str) and chunk.content:
            text.append(chunk.content)
            write({"type": "token", "text": chunk.content})
        if chunk.tool_call_chunks:
            # Merged by index, like LangChain's own chunk addition; text is kept above.
            piece = AIMessageChunk(content="", tool_call_chunks=chunk.tool_call_chunks)
            calls = piece if calls is None else calls + piece
        if chunk.usage_metadata:
            usage = Usage(
                input_tokens=chunk.usage_metadata["input_tokens"],
                output_tokens=chunk.usage_metadata["output_tokens"],
            )
    return "".join(text), usage, calls


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
