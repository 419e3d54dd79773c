"""A chat turn as a stream of events, shared by the SSE endpoint, the JSON reply and the CLI."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass, replace
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph.state import CompiledStateGraph

from checkpointing.fenced import FENCE_KEY, FenceRejected
from checkpointing.sql import utcnow
from checkpointing.turn_log import TurnRow, to_micros
from core.ids import check_id
from core.logs import THREAD_ID
from core.trace_health import record_export_problem
from graphs.compiler import Squad
from graphs.live import LiveSquad
from graphs.state import SquadContext, TurnMeter
from nodes.agent import LiveAgents
from nodes.routing import HistoryTurn, Router
from server.costs import priced_calls, turn_cost
from server.gate import INTERRUPTED, SUPERSEDED, TurnInterrupted, until_set
from server.tracing import TurnTrace, TurnTracer
from server.turn_hooks import Admission, TurnHooks

log = logging.getLogger("esquadra.chat")

ChatEvent = tuple[str, dict[str, Any]]

# Shown in the thread where a reply was cut by a crash or a lost connection; the next reply
# answers that message together with the new one.
CUT_REPLY_NOTE = (
    "(Minha resposta a esta mensagem foi interrompida. Respondo agora, junto com a próxima.)"
)

# The key LangGraph's `updates` stream gives an interrupt under (its documented output; the
# constant itself is private since LangGraph 1.0).
INTERRUPT = "__interrupt__"

INTERNAL_ERROR = {
    "code": "internal_error",
    "message": "Algo deu errado do nosso lado. Sua mensagem ficou salva; tente de novo.",
}


@dataclass(frozen=True)
class ChatTurn:
    message: str
    thread_id: str | None = None  # None: the user's active thread, or a new one
    user_id: str | None = None  # the sender's id on `channel` (e.g. a WhatsApp number)
    channel: str = "api"
    # When the server received it (`time.time()`, stamped first thing by the route): its place
    # in the thread's queue. None: when the turn asks the gate.
    arrived_at: float | None = None


def new_thread_id() -> str:
    return uuid.uuid4().hex


class ChatService:
    """Runs turns through the compiled squad graph and reads threads back from the checkpointer."""

    def __init__(
        self,
        squad: Squad,
        graph: CompiledStateGraph,
        hooks: TurnHooks | None = None,
        live: LiveSquad | None = None,
        ledger: Any = None,
        profiles: Any = None,
        tracer: TurnTracer | None = None,
    ) -> None:
        self.squad = squad
        self.graph = graph
        self.hooks = hooks or TurnHooks()
        self.live = live  # the registry's snapshot holder; None: the YAML as compiled
        # The stores tools write to (`checkpointing.ledger.LedgerStore`), handed to each run's
        # context; None: tools that need one say so in their reply.
        self.ledger = ledger
        self.profiles = profiles  # `checkpointing.business.BusinessProfiles`, for the tools
        self.tracer = tracer  # LangSmith, one trace per turn; None: tracing off
        self._running: set[asyncio.Task[None]] = set()

    def live_active(self) -> frozenset[str] | None:
        """The agents taking traffic now (the registry's switch), or None for the YAML's."""
        return self.live.current.active if self.live is not None else None

    def router(self) -> Router:
        """The router now: its head refitted on the live routing examples once ready."""
        live = self.live.current if self.live is not None else None
        return live.router if live is not None and live.router is not None else self.squad.router

    async def prepare(self, turn: ChatTurn) -> ChatTurn:
        """The turn with its canonical user id and its thread (the user's active one, or new).

        `InvalidId` when the thread or user id breaks the id rule (every channel comes here).
        """
        if turn.thread_id is not None:
            check_id(turn.thread_id, "thread_id")
        if turn.user_id is not None:
            check_id(turn.user_id, "user_id")
        user_id = await self.hooks.identity.resolve(turn.channel, turn.user_id)
        thread_id = turn.thread_id
        if user_id is not None and thread_id is None:
            # Claimed, not read-then-set: a new user's first messages arriving together (a
            # WhatsApp burst) must land in one thread, or the debounce cannot merge them.
            thread_id = await self.hooks.identity.claim_active_thread(user_id, new_thread_id())
        elif user_id is not None and thread_id is not None:
            await self.hooks.identity.set_active_thread(user_id, thread_id)
        thread_id = thread_id or new_thread_id()
        return replace(turn, thread_id=thread_id, user_id=user_id)

    async def stream(self, turn: ChatTurn) -> AsyncIterator[ChatEvent]:
        """Yield `route`, `token`…, then `done` or `error` (always last), or only `merged`.

        `turn` must come from `prepare` (a thread id and a canonical user id). The thread's gate
        decides first: under `reject` a busy thread raises `ThreadBusy` before any event (the
        route makes it a 409); a message merged into a burst yields only `merged`.

        The turn runs in a task of its own. A client that hangs up only cancels that task once;
        the graph then saves the turn as it stands and the gate lets the thread go, at their own
        pace. Run in the request's task, both would be cut short by the server's (repeated)
        cancellation: the checkpoint refused by a released fence, the user's message lost.
        """
        assert turn.thread_id is not None, "stream() takes a turn from prepare()"
        events: asyncio.Queue[ChatEvent | BaseException | None] = asyncio.Queue()
        task = asyncio.create_task(self._admitted(turn, events.put_nowait))
        self.hooks.metrics.stream_opened()
        # The loop keeps only weak references: a turn finishing after its client left must not
        # be collected half-way.
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        try:
            while (item := await events.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.hooks.metrics.stream_closed()
            if not task.done():
                task.cancel()

    async def aclose(self, timeout_s: float = 10.0) -> None:
        """Let turns whose clients left finish saving (then cancel any still running)."""
        if self._running:
            _, pending = await asyncio.wait(set(self._running), timeout=timeout_s)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)

    async def _admitted(
        self, turn: ChatTurn, emit: Callable[[ChatEvent | BaseException | None], None]
    ) -> None:
        """The turn inside its thread's gate; events, then None, go to `emit` (or the error)."""
        assert turn.thread_id is not None
        THREAD_ID.set(turn.thread_id)  # the turn's own task: every log line of it names it
        try:
            async with self.hooks.gate.admit(
                turn.thread_id, turn.channel, turn.message, turn.arrived_at
            ) as admission:
                if admission.merged_into is not None:
                    emit(("merged", {"into": admission.merged_into, "thread_id": turn.thread_id}))
                    return
                # Read once: the turn keeps this snapshot even if the registry moves meanwhile.
                live = self.live.current if self.live is not None else None
                meter = TurnMeter()  # the nodes fill it in; read once, when the turn ends
                started = time.perf_counter()
                route: dict[str, Any] | None = None
                last: ChatEvent | None = None
                trace = self._start_trace(turn, admission.message) if self.tracer else None
                try:
                    async with aclosing(
                        self._turn(replace(turn, message=admission.message), admission, live, meter)
                    ) as run:
                        async for event in run:
                            if event[0] == "route":
                                route = event[1]
                            elif event[0] == "done" or event[0] == "error":
                                last = event
                            if trace is not None:
                                trace.see(*event)
                            emit(event)
                finally:
                    if trace is not None:
                        _finish_trace(trace, last)
                    self._log_turn(turn, live, started, route, last, meter, admission.waited_s)
        except asyncio.CancelledError:
            raise
        except BaseException as error:  # ThreadBusy and the like: the caller raises it
            emit(error)
        finally:
            emit(None)

    def _start_trace(self, turn: ChatTurn, message: str) -> TurnTrace | None:
        """The turn's LangSmith trace (None when dropped). Tracing never fails a turn: a bug
        here is logged and counted, and the turn runs untraced."""
        assert self.tracer is not None and turn.thread_id is not None
        try:
            return self.tracer.start(turn.thread_id, turn.user_id, turn.channel, message)
        except Exception:
            log.exception("could not start the trace of a turn")
            record_export_problem("failed")
            return None

    def _log_turn(
        self,
        turn: ChatTurn,
        live: LiveAgents | None,
        started: float,
        route: dict[str, Any] | None,
        last: ChatEvent | None,
        meter: TurnMeter | None = None,
        gate_wait_s: float = 0.0,
    ) -> None:
        """Queue the turn's row (`chat_turns`) and its model calls' (`model_costs`): tuples
        handed to the turn log, no I/O here; then the turn's metrics, observed once. A turn
        that ended without `done` or `error` (its client left, or it raised) is
        `incomplete`."""
        agent = route["agent"] if route is not None else None
        if last is not None and last[0] == "done":
            done = last[1]
            agent, error_code = done["agent"], None
            latency_ms, ttft_ms = done["latency_ms"], done["ttft_ms"]
            usage, cost = done["usage"], done["cost"]
            offline = done["offline"]
        else:
            error_code = last[1].get("code", "internal_error") if last else "incomplete"
            latency_ms, ttft_ms = _ms_since(started), None
            usage, cost, offline = _NO_USAGE, _NO_COST, False
        row = TurnRow(
            at=utcnow(),
            thread_id=turn.thread_id or "",
            user_id=turn.user_id,
            channel=turn.channel,
            agent_id=agent,
            route_layer=route.get("layer") if route is not None else None,
            model_profile=self._profile(agent, live) if agent is not None else None,
            offline=offline,
            latency_ms=latency_ms,
            ttft_ms=ttft_ms,
            input_tokens=usage["input_tokens"],
            output_tokens=usage["output_tokens"],
            cost_usd_micros=to_micros(cost["usd"]),
            cost_brl_micros=to_micros(cost["brl"]),
            error_code=error_code,
        )
        self.hooks.turns.record(row)
        costs = priced_calls(row, meter.calls if meter is not None else (), self.squad.loaded.spec)
        for cost_row in costs:
            self.hooks.turns.record(cost_row)
        routing_s = meter.routing_s if meter is not None else None
        self.hooks.metrics.turn_finished(row, costs, routing_s, gate_wait_s)

    def _profile(self, agent_id: str, live: LiveAgents | None) -> str | None:
        """The model profile the agent answered with: the snapshot's, else the YAML's."""
        if live is not None and agent_id in live.agents:
            return live.agents[agent_id].agent.model
        try:
            return self.squad.loaded.spec.agent(agent_id).model
        except KeyError:
            return None

    async def _turn(
        self,
        turn: ChatTurn,
        admission: Admission,
        live: LiveAgents | None = None,
        meter: TurnMeter | None = None,
    ) -> AsyncIterator[ChatEvent]:
        """One admitted turn on the registry snapshot `live` (None: the YAML as compiled): the
        graph run, stopped early if a newer message interrupts it."""
        started = time.perf_counter()
        ttft_ms: int | None = None
        result: dict[str, Any] | None = None
        configurable: dict[str, Any] = {"thread_id": turn.thread_id}
        if admission.fence:
            configurable[FENCE_KEY] = admission.fence  # checked by every checkpoint write
        config = {
            "configurable": configurable,
            # Saved with every checkpoint, so a user's threads can be found by user id later.
            "metadata": {"user_id": turn.user_id, "channel": turn.channel},
        }
        turn_id = uuid.uuid4().hex
        assert turn.thread_id is not None
        # Durable before the reply starts (one small write): a crash mid-reply cannot lose it.
        unfinished = await self.hooks.pending.begin(
            turn.thread_id, turn_id, turn.message, turn.user_id, turn.channel
        )
        inputs = await self._unanswered(turn.thread_id, unfinished) if unfinished else []
        inputs.append(HumanMessage(content=turn.message, id=turn_id))
        memory = self.squad.loaded.spec.memory
        facts: list[str] = []
        if turn.user_id is not None and memory.enabled:
            facts = await self.hooks.memory.recall(
                turn.user_id, turn.message, memory.max_facts_in_prompt
            )
        run = self.graph.astream(
            {"messages": inputs},
            config,  # type: ignore[arg-type]
            context=SquadContext(
                user_id=turn.user_id,
                channel=turn.channel,
                thread_id=turn.thread_id,
                facts=tuple(facts),
                live=live,
                ledger=self.ledger,
                profiles=self.profiles,
                meter=meter,
            ),
            stream_mode=["custom", "updates"],
            durability=self.squad.loaded.spec.sessions.durability,
        )
        # Only an interruptible turn pays for racing each event against the interrupt, and
        # keeps its tokens so the partial reply can be saved.
        partial: list[str] | None = None
        agent: str | None = None
        waiting: dict[str, Any] | None = None  # a workflow's question held by an interrupt
        if self.squad.loaded.spec.sessions.gate.channel(turn.channel).policy == "interrupt":
            run, partial = until_set(run, admission.interrupted), []
        try:
            async for mode, chunk in run:
                if mode == "custom":
                    kind = chunk.pop("type")
                    if kind == "token":
                        if ttft_ms is None:
                            ttft_ms = _ms_since(started)
                        if partial is not None:
                            partial.append(chunk["text"])
                    elif kind == "route":
                        agent = chunk["agent"]
                    yield kind, chunk
                else:
                    if INTERRUPT in chunk:  # the run stopped at a question (sim/não)
                        waiting = chunk[INTERRUPT][0].value
                        continue
                    for update in chunk.values():
                        if isinstance(update, dict) and update.get("turn"):
                            result = update["turn"]
        except TurnInterrupted:
            await self._keep_interrupted(config, agent, "".join(partial or []))
            await self.hooks.pending.finish(turn.thread_id, turn_id)
            yield "error", dict(INTERRUPTED)
            return
        except FenceRejected:
            log.warning("turn on thread %s lost its lock; its writes were refused", turn.thread_id)
            yield "error", dict(SUPERSEDED)
            return
        except Exception:
            log.exception("turn failed on thread %s", turn.thread_id)
            yield "error", dict(INTERNAL_ERROR)
            return
        finally:
            # A client that hung up closes this generator at a `yield`: close the graph run
            # now, not whenever it is collected, so it saves the turn as it stands.
            await run.aclose()  # type: ignore[attr-defined]
        if result is None:
            yield "error", dict(INTERNAL_ERROR)
            return
        await self.hooks.pending.finish(turn.thread_id, turn_id)  # the checkpoint has the turn
        if result["error"] is not None:
            yield "error", dict(result["error"])
            return
        usage = result["usage"]
        await self._record_turn(turn)
        if turn.user_id is not None and memory.enabled:  # queued: facts are learned off-path
            await self.hooks.memory.remember(turn.user_id, turn.thread_id or "", turn.message)
        yield (
            "done",
            {
                "thread_id": turn.thread_id,
                "agent": result["agent"],
                "offline": result["offline"],
                "usage": usage,
                "cost": self._cost(result["agent"], usage, live),
                "latency_ms": _ms_since(started),
                "ttft_ms": ttft_ms,
                # What the thread waits for (the next message answers it), or None.
                "pending_action": waiting,
            },
        )

    async def _keep_interrupted(self, config: Any, agent: str | None, text: str) -> None:
        """Save the reply cut short, marked, as if its agent had finished it (the thread then
        has nothing pending and the next message starts a clean run)."""
        if agent is None:  # stopped while routing: nothing was said yet
            return
        message = AIMessage(content=text, name=agent, response_metadata={"interrupted": True})
        try:
            await self.graph.aupdate_state(config, {"messages": [message]}, as_node=agent)
        except FenceRejected:
            log.warning("interrupted reply on thread %s not kept: lock lost", config)

    async def _unanswered(self, thread_id: str, unfinished: Any) -> list[Any]:
        """What the thread needs before this turn's message when the previous turn never
        finished (a crash, a lost lock, a hang-up): its message if the checkpoint lacks it,
        and a marked note standing for the reply it never got."""
        snapshot = await self.graph.aget_state({"configurable": {"thread_id": thread_id}})
        stored = snapshot.values.get("messages", []) if snapshot.values else []
        ids = [m.id for m in stored]
        missing: list[Any] = []
        if unfinished.turn_id in ids:
            if any(isinstance(m, AIMessage) for m in stored[ids.index(unfinished.turn_id) :]):
                return []  # it was answered; only its bookkeeping row was left behind
        else:
            missing.append(HumanMessage(content=unfinished.message, id=unfinished.turn_id))
        log.warning("thread %s: turn %s never finished; kept", thread_id, unfinished.turn_id)
        note = AIMessage(content=CUT_REPLY_NOTE, response_metadata={"interrupted": True})
        return [*missing, note]

    async def thread_messages(self, thread_id: str) -> list[dict[str, Any]] | None:
        """The thread's conversation, or None when no such thread was ever written.

        A message whose turn has not finished (being answered now, or cut by a crash and not
        yet folded into a later turn) is shown last with `pending: true`."""
        snapshot = await self.graph.aget_state({"configurable": {"thread_id": thread_id}})
        stored = snapshot.values.get("messages", []) if snapshot.values else []
        messages = [d for d in map(_as_dict, stored) if d]
        unfinished = await self.hooks.pending.get(thread_id)
        if unfinished is not None and unfinished.turn_id not in {m.id for m in stored}:
            messages.append(
                {"role": "user", "content": unfinished.message, "agent": None, "pending": True}
            )
        return messages or None

    async def thread_owner(self, thread_id: str) -> str | None:
        """The user whose turn last wrote this thread (checkpoint metadata), or whose first turn
        is still running (its pending row); None for a thread never written."""
        snapshot = await self.graph.aget_state({"configurable": {"thread_id": thread_id}})
        if snapshot.metadata and snapshot.metadata.get("user_id"):
            return str(snapshot.metadata["user_id"])
        unfinished = await self.hooks.pending.get(thread_id)
        return unfinished.user_id if unfinished is not None else None

    async def thread_history(self, thread_id: str) -> list[HistoryTurn]:
        """The thread's stored conversation in the router's shape, as much as the router reads
        (`sessions.prompt.routing_messages`; [] for a new thread)."""
        snapshot = await self.graph.aget_state({"configurable": {"thread_id": thread_id}})
        messages = snapshot.values.get("messages", []) if snapshot.values else []
        history = [
            HistoryTurn(role=item["role"], content=item["content"], agent=item["agent"])
            for item in map(_as_dict, messages)
            if item is not None
        ]
        window = self.squad.loaded.spec.sessions.prompt.routing_messages
        return history[max(0, len(history) - window) :]

    async def _record_turn(self, turn: ChatTurn) -> None:
        """Tell retention the thread grew; bookkeeping, so a failure here never fails the turn."""
        try:
            await self.hooks.sessions.record_turn(turn.thread_id or "")
        except Exception:
            log.exception("recording the turn of thread %s failed", turn.thread_id)

    def _cost(
        self, agent_id: str, usage: dict[str, int], live: LiveAgents | None = None
    ) -> dict[str, str]:
        spec = self.squad.loaded.spec
        prices = spec.models[self._profile(agent_id, live) or ""].price_per_1m_tokens
        return turn_cost(
            prices, spec.defaults.usd_brl, usage["input_tokens"], usage["output_tokens"]
        )


def _finish_trace(trace: TurnTrace, last: ChatEvent | None) -> None:
    try:
        trace.finish(last)
    except Exception:
        log.exception("could not finish the trace of a turn")
        record_export_problem("failed")


def _as_dict(message: Any) -> dict[str, Any] | None:
    if isinstance(message, HumanMessage):
        return {"role": "user", "content": message.text, "agent": None}
    if isinstance(message, AIMessage):
        if message.response_metadata.get("interrupted"):
            return {
                "role": "assistant",
                "content": message.text,
                "agent": message.name,
                "interrupted": True,
            }
        return {"role": "assistant", "content": message.text, "agent": message.name}
    return None


_NO_USAGE = {"input_tokens": 0, "output_tokens": 0}
_NO_COST = {"usd": "0", "brl": "0"}


def _ms_since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
