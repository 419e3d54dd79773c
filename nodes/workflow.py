"""A YAML workflow as three graph nodes: start (extract → validate → confirm), wait, execute.

`W` takes the arguments (the model's tool call, or extracted from the message offline),
validates them and, with a `confirm` step, streams the question as the turn's reply and leaves
a `pending` action in the thread. `W__wait` holds the run with a LangGraph `interrupt` until
the owner answers: the next message on the thread — from any channel — comes back to it
without the classifier ("sim" → `W__execute`, "não" → cancelled, anything else → answered by
the squad while the question stays pending until it expires). `W__execute` runs the tool and
streams the reply.

The nodes live in the squad graph itself, not in a subgraph: a subgraph's stream events only
surface with `subgraphs=True`, and its question would stay inside the subgraph's state until
it resumes (docs/architecture.md, "Workflows").
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.graph import END
from langgraph.runtime import Runtime
from langgraph.types import Command, interrupt

from core.text import fold
from graphs.schema import Workflow
from graphs.state import BUSINESS_TZ, PendingAction, SquadContext, SquadState, TurnResult, Usage
from nodes.offline import stream_pieces
from tools.base import ToolArgsError, ToolEnv, ToolSpec, render

log = logging.getLogger("esquadra.workflow")

WAIT_SUFFIX = "__wait"
EXECUTE_SUFFIX = "__execute"
NO_USAGE = Usage(input_tokens=0, output_tokens=0)

Answer = Literal["yes", "no", "other"]
_YES = frozenset(
    "sim s ss sim! pode confirmo confirma confirmado isso ok okay beleza blz certo claro "
    "correto exato perfeito bora manda registra lanca fechado 👍 ✅".split()
)
_NO = frozenset("nao n nops negativo cancela cancelar cancele esquece deixa errado para".split())
_WORD = re.compile(r"[\w👍✅]+")


def wait_node(workflow_id: str) -> str:
    return workflow_id + WAIT_SUFFIX


def execute_node(workflow_id: str) -> str:
    return workflow_id + EXECUTE_SUFFIX


def classify_answer(text: str) -> Answer:
    """ "sim"/"pode"/"👍" → yes, "não"/"cancela" → no; a longer message is something else,
    unless it opens with a yes or no and says little more ("sim, pode registrar")."""
    words = _WORD.findall(fold(text))
    if not words:
        return "other"
    first = words[0]
    if first in _YES and len(words) <= 4:
        return "yes"
    if first in _NO and len(words) <= 5:
        return "no"
    return "other"


def tool_env(context: SquadContext, message_id: str | None) -> ToolEnv:
    """A tool's view of the run: the context's stores and clock, and the message as source."""
    now = None
    if context.today is not None:  # a pinned date (tests, replays): noon of that day
        now = datetime.combine(context.today, time(12), BUSINESS_TZ)
    source = {
        "type": "message",
        "thread_id": context.thread_id,
        "channel": context.channel,
        "message_id": message_id,
    }
    return ToolEnv(ledger=context.ledger, profiles=context.profiles, now=now, source=source)


def last_human(messages: list[AnyMessage]) -> HumanMessage | None:
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            return message
    return None


def pending_open(state: SquadState, now: datetime | None = None) -> PendingAction | None:
    """The thread's pending action unless it has expired."""
    pending = state.get("pending")
    if not pending:
        return None
    if datetime.fromisoformat(pending["expires_at"]) <= (now or datetime.now(UTC)):
        return None
    return pending


@dataclass(frozen=True)
class WorkflowNodes:
    """The three nodes of one workflow, ready for `StateGraph.add_node`."""

    start: Callable[..., Coroutine[Any, Any, Command[str]]]
    wait: Callable[..., Coroutine[Any, Any, Command[str]]]
    execute: Callable[..., Coroutine[Any, Any, dict[str, Any]]]


def make_workflow_nodes(
    workflow: Workflow, tool: ToolSpec[Any, Any], offline: Callable[[], bool]
) -> WorkflowNodes:
    """Build the nodes; `offline()` says whether the workflow's agent answers without a model."""
    agent = workflow.agent
    confirms = "confirm" in workflow.steps
    to_wait, to_execute = wait_node(workflow.id), execute_node(workflow.id)

    def reply(runtime: Runtime[SquadContext], text: str, usage: Usage = NO_USAGE) -> dict[str, Any]:
        for piece in stream_pieces(text):
            runtime.stream_writer({"type": "token", "text": piece})
        return {
            "messages": [AIMessage(content=text, name=agent)],
            "active_agent": agent,
            "workflow_call": None,
            "turn": TurnResult(agent=agent, offline=offline(), usage=usage, error=None),
        }

    async def start(state: SquadState, runtime: Runtime[SquadContext]) -> Command[str]:
        context = runtime.context or SquadContext()
        call = state.get("workflow_call") or {"workflow": workflow.id, "args": None}
        usage = call.get("usage", NO_USAGE)
        human = last_human(state.get("messages", []))
        env = tool_env(context, human.id if human else None)
        raw = call["args"]
        if raw is None and tool.extract is not None and human is not None:
            raw = tool.extract(human.text, env)
        if raw is None:
            text = f"Não consegui tirar da sua mensagem os dados para isso. {tool.description}"
            return Command(goto=END, update=reply(runtime, text, usage))
        if tool.user_scoped:
            if context.user_id is None:
                text = (
                    "Não consigo registrar: esta conversa não tem um usuário identificado. "
                    "Fale comigo pelo WhatsApp ou pela página, ou envie `user_id` na API."
                )
                return Command(goto=END, update=reply(runtime, text, usage))
            raw = {**raw, "user_id": context.user_id}
        try:
            args = tool.validate(raw)
            if tool.complete is not None:
                args = tool.complete(args, env)
        except ToolArgsError as error:
            text = (
                f"Não deu para seguir, algo nos dados não bate ({error.problems}). Pode corrigir?"
            )
            return Command(goto=END, update=reply(runtime, text, usage))
        expires = datetime.now(UTC) + timedelta(minutes=workflow.expires_after_min)
        question = render(workflow.confirm or "", tool, args) if confirms else ""
        pending = PendingAction(
            workflow=workflow.id,
            tool=tool.name,
            args=args.model_dump(mode="json"),
            question=question,
            expires_at=expires.isoformat(),
            seen=human.id if human else None,
        )
        if not confirms:
            return Command(goto=to_execute, update={"pending": pending, "workflow_call": None})
        update = reply(runtime, question, usage)
        update["pending"] = pending
        return Command(goto=to_wait, update=update)

    async def wait(state: SquadState, runtime: Runtime[SquadContext]) -> Command[str]:
        pending = pending_open(state)
        if pending is None or pending["workflow"] != workflow.id:
            # Expired (or replaced): the message is an ordinary one again.
            return Command(goto="classify", update={"pending": None})
        human = last_human(state.get("messages", []))
        if human is None or human.id == pending["seen"]:
            # The question is the last thing said: hold the run until the owner answers. A new
            # message starts a new run that comes back here; Studio resumes with the answer.
            answer_text = str(interrupt(_interrupt_payload(pending)))
        else:
            answer_text = human.text
            pending = PendingAction(**{**pending, "seen": human.id})
        answer = classify_answer(answer_text)
        if answer == "other":
            # Something else: the squad answers it and the question stays open.
            return Command(goto="classify", update={"pending": pending, "turn": None})
        route = {"agent": agent, "layer": "workflow", "confidence": 1.0, "candidates": []}
        runtime.stream_writer({"type": "route", **route})
        if answer == "yes":
            return Command(goto=to_execute, update={"pending": pending, "route": route})
        update = reply(runtime, workflow.cancelled)  # "não": nothing runs
        update.update(pending=None, route=route)
        return Command(goto=END, update=update)

    async def execute(state: SquadState, runtime: Runtime[SquadContext]) -> dict[str, Any]:
        context = runtime.context or SquadContext()
        pending = state.get("pending")
        assert pending is not None, "execute runs after start or wait"
        human = last_human(state.get("messages", []))
        env = tool_env(context, human.id if human else None)
        try:
            args = tool.validate(pending["args"])
            if tool.writes and env.ledger is None:
                raise RuntimeError("no store is open in this run")
            result = await tool.run(args, env)
        except ToolArgsError as error:
            text = f"Não deu para concluir ({error.problems})."
        except Exception:
            log.exception("workflow %s: tool %s failed", workflow.id, tool.name)
            text = "Não consegui concluir agora; nada foi registrado. Tente de novo em instantes."
        else:
            text = render(workflow.reply, tool, args, result)
        update = reply(runtime, text)
        update["pending"] = None
        return update

    start.__name__ = f"workflow_{workflow.id}"
    wait.__name__ = f"workflow_{workflow.id}_wait"
    execute.__name__ = f"workflow_{workflow.id}_execute"
    return WorkflowNodes(start, wait, execute)


def _interrupt_payload(pending: PendingAction) -> dict[str, Any]:
    """What `done.pending_action` and Studio show: the question and what it would run."""
    return {
        "workflow": pending["workflow"],
        "tool": pending["tool"],
        "args": {k: v for k, v in pending["args"].items() if k != "user_id"},
        "question": pending["question"],
        "expires_at": pending["expires_at"],
    }


def pending_action(pending: PendingAction | None) -> dict[str, Any] | None:
    """The pending action as a client sees it (None when nothing waits)."""
    return _interrupt_payload(pending) if pending else None
