"""What a chat turn asks of the stores around the graph: identity, memory, hot session, the gate.

`ChatService` calls these at fixed points of a turn; `create_app` picks the implementations
(Redis and Postgres, or the in-process embedded default). The null versions here keep the
service usable alone (CLI, Studio, unit tests) and say what each hook is for.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from checkpointing.cost_ledger import CostRow
from checkpointing.turn_log import TurnRow


class IdentityHook(Protocol):
    """One person across channels: (channel, sender id) → user id, and their active thread."""

    async def resolve(self, channel: str, sender_id: str | None) -> str | None:
        """The canonical user id for this sender on this channel (None: anonymous)."""
        ...

    async def active_thread(self, user_id: str) -> str | None:
        """The thread this user talks in now, whatever the channel (None: start one)."""
        ...

    async def set_active_thread(self, user_id: str, thread_id: str) -> None: ...

    async def claim_active_thread(self, user_id: str, thread_id: str) -> str:
        """The active thread; `thread_id` becomes it when there is none (atomically)."""
        ...


class MemoryHook(Protocol):
    """Long-term facts about the user's business."""

    async def recall(self, user_id: str, text: str, limit: int) -> list[str]:
        """The facts most relevant to `text` (cheap: no waiting on a model on the chat path)."""
        ...

    async def remember(self, user_id: str, thread_id: str, text: str) -> None:
        """Queue a user message for fact extraction and embedding; returns without waiting."""
        ...


class SessionHook(Protocol):
    """After a turn is checkpointed: bookkeeping for the thread (retention)."""

    async def record_turn(self, thread_id: str) -> None: ...


class PendingHook(Protocol):
    """The user's message of a running turn, durable before the reply starts."""

    async def begin(
        self, thread_id: str, turn_id: str, message: str, user_id: str | None, channel: str
    ) -> Any:
        """Record the message; the thread's previous turn (`PendingTurn`) if it never finished."""
        ...

    async def finish(self, thread_id: str, turn_id: str) -> None: ...

    async def get(self, thread_id: str) -> Any:
        """The thread's unfinished turn (`PendingTurn`), or None."""
        ...


class TurnLogHook(Protocol):
    """After every turn (answered or not): its row for the figures and the cost ledger."""

    def record(self, row: TurnRow | CostRow) -> None:
        """Queue the row (the turn's, or one of its priced model calls'); must not wait or
        raise (the turn has already been answered)."""
        ...


class MetricsHook(Protocol):
    """The process's metrics (`server/metrics.py`), observed a few times per turn, never per
    token: a stream opened and closed, and the turn's figures once it ends."""

    def stream_opened(self) -> None: ...

    def stream_closed(self) -> None: ...

    def turn_finished(
        self,
        row: TurnRow,
        costs: Sequence[CostRow],
        routing_s: float | None,
        gate_wait_s: float,
    ) -> None:
        """Must not wait or raise."""
        ...


@dataclass
class Admission:
    """What the gate decided for one incoming message."""

    message: str  # the text to answer (several messages when a burst was merged)
    fence: int = 0  # fencing token: writes with an older token are refused
    merged_into: str | None = None  # set when this message joined another request's turn
    interrupted: asyncio.Event = field(default_factory=asyncio.Event)
    request_id: str = ""  # names this request in a `merged` event ({into: request_id})
    waited_s: float = 0.0  # how long the turn waited for its thread's lock (metrics)


class TurnGate(Protocol):
    """Per-thread concurrency: one turn at a time, by the channel's policy."""

    def admit(
        self, thread_id: str, channel: str, message: str, arrived_at: float | None = None
    ) -> Any:
        """An async context manager yielding an `Admission` (raises `Busy` under `reject`).

        `arrived_at`: when the server received the message (`time.time()`; None: now). Turns
        are served in this order, not in the order their look-ups finished."""
        ...


class NoIdentity:
    async def resolve(self, channel: str, sender_id: str | None) -> str | None:
        return sender_id

    async def active_thread(self, user_id: str) -> str | None:
        return None

    async def set_active_thread(self, user_id: str, thread_id: str) -> None:
        return None

    async def claim_active_thread(self, user_id: str, thread_id: str) -> str:
        return thread_id


class NoMemory:
    async def recall(self, user_id: str, text: str, limit: int) -> list[str]:
        return []

    async def remember(self, user_id: str, thread_id: str, text: str) -> None:
        return None


class NoSessions:
    async def record_turn(self, thread_id: str) -> None:
        return None


class NoPending:
    """Nothing recorded: a process that dies mid-turn loses that turn (CLI, Studio)."""

    async def begin(
        self, thread_id: str, turn_id: str, message: str, user_id: str | None, channel: str
    ) -> Any:
        return None

    async def finish(self, thread_id: str, turn_id: str) -> None:
        return None

    async def get(self, thread_id: str) -> Any:
        return None


class NoTurnLog:
    def record(self, row: TurnRow | CostRow) -> None:
        return None


class NoMetrics:
    def stream_opened(self) -> None:
        return None

    def stream_closed(self) -> None:
        return None

    def turn_finished(
        self,
        row: TurnRow,
        costs: Sequence[CostRow],
        routing_s: float | None,
        gate_wait_s: float,
    ) -> None:
        return None


class OpenGate:
    """No coordination: every message runs at once (single-user tools, Studio)."""

    @asynccontextmanager
    async def admit(
        self, thread_id: str, channel: str, message: str, arrived_at: float | None = None
    ) -> AsyncIterator[Admission]:
        yield Admission(message=message)


@dataclass
class TurnHooks:
    identity: IdentityHook = field(default_factory=NoIdentity)
    memory: MemoryHook = field(default_factory=NoMemory)
    sessions: SessionHook = field(default_factory=NoSessions)
    gate: TurnGate = field(default_factory=OpenGate)
    pending: PendingHook = field(default_factory=NoPending)
    turns: TurnLogHook = field(default_factory=NoTurnLog)
    metrics: MetricsHook = field(default_factory=NoMetrics)
