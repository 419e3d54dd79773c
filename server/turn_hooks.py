"""What a chat turn asks of the stores around the graph: identity, memory, hot session, the gate.

`ChatService` calls these at fixed points of a turn; `create_app` picks the implementations
(Redis and Postgres, or the in-process embedded default). The null versions here keep the
service usable alone (CLI, Studio, unit tests) and say what each hook is for.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol


class IdentityHook(Protocol):
    """One person across channels: (channel, sender id) → user id, and their active thread."""

    async def resolve(self, channel: str, sender_id: str | None) -> str | None:
        """The canonical user id for this sender on this channel (None: anonymous)."""
        ...

    async def active_thread(self, user_id: str) -> str | None:
        """The thread this user talks in now, whatever the channel (None: start one)."""
        ...

    async def set_active_thread(self, user_id: str, thread_id: str) -> None: ...


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


@dataclass
class Admission:
    """What the gate decided for one incoming message."""

    message: str  # the text to answer (several messages when a burst was merged)
    fence: int = 0  # fencing token: writes with an older token are refused
    merged_into: str | None = None  # set when this message joined another request's turn
    interrupted: asyncio.Event = field(default_factory=asyncio.Event)
    request_id: str = ""  # names this request in a `merged` event ({into: request_id})


class TurnGate(Protocol):
    """Per-thread concurrency: one turn at a time, by the channel's policy."""

    def admit(self, thread_id: str, channel: str, message: str) -> Any:
        """An async context manager yielding an `Admission` (raises `Busy` under `reject`)."""
        ...


class NoIdentity:
    async def resolve(self, channel: str, sender_id: str | None) -> str | None:
        return sender_id

    async def active_thread(self, user_id: str) -> str | None:
        return None

    async def set_active_thread(self, user_id: str, thread_id: str) -> None:
        return None


class NoMemory:
    async def recall(self, user_id: str, text: str, limit: int) -> list[str]:
        return []

    async def remember(self, user_id: str, thread_id: str, text: str) -> None:
        return None


class NoSessions:
    async def record_turn(self, thread_id: str) -> None:
        return None


class OpenGate:
    """No coordination: every message runs at once (single-user tools, Studio)."""

    @asynccontextmanager
    async def admit(self, thread_id: str, channel: str, message: str) -> AsyncIterator[Admission]:
        yield Admission(message=message)


@dataclass
class TurnHooks:
    identity: IdentityHook = field(default_factory=NoIdentity)
    memory: MemoryHook = field(default_factory=NoMemory)
    sessions: SessionHook = field(default_factory=NoSessions)
    gate: TurnGate = field(default_factory=OpenGate)
