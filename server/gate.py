"""The per-thread turn gate: what happens when the owner writes again before the reply is done.

Each channel's policy comes from `sessions.gate.channels` in the YAML:

- `enqueue`: the new message waits its turn; messages are answered one by one, in arrival order.
- `reject`: the new message is refused at once with 409 `thread_busy`.
- `interrupt`: the running reply is asked to stop (its partial text is kept, marked
  interrupted, and its stream ends with `error` `interrupted`); the new message is answered next.
- `debounce_ms` > 0: messages closer together than the window become one turn. The first
  message of a burst leads it: it waits for the window to pass quietly, then runs the turn with
  the texts joined by newlines (one user message). The others end at once with a `merged`
  event naming the leader's request id.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import TypeVar

from checkpointing.fenced import FencedSaver, FenceStore, fences_for
from checkpointing.locks import (
    AcquireMode,
    Busy,
    FallbackThreadLocks,
    LocalThreadLocks,
    RedisThreadLocks,
    ThreadLocks,
)
from checkpointing.stores import Stores
from graphs.schema import Sessions
from server.errors import ApiError
from server.turn_hooks import Admission

log = logging.getLogger("esquadra.gate")

T = TypeVar("T")

BUSY_MESSAGE = (
    "Ainda estou respondendo a sua mensagem anterior nesta conversa. "
    "Espere a resposta terminar e envie de novo."
)
INTERRUPTED = {
    "code": "interrupted",
    "message": "Você mandou uma mensagem nova, então parei esta resposta aqui. "
    "Já vou responder a mensagem nova.",
}
SUPERSEDED = {
    "code": "superseded",
    "message": "Esta resposta demorou demais e a conversa seguiu sem ela. "
    "Se ainda precisar, mande a mensagem de novo.",
}

_MODES: dict[str, AcquireMode] = {"enqueue": "wait", "reject": "try", "interrupt": "interrupt"}
# A burst never waits longer than this many windows in total, however chatty the owner is.
_MAX_BURST_WINDOWS = 4


class ThreadBusy(ApiError):
    """409: the thread is answering and its channel's policy is `reject`."""

    def __init__(self) -> None:
        super().__init__(409, "thread_busy", BUSY_MESSAGE)


class TurnInterrupted(Exception):
    """A newer message on the thread stopped this turn (policy `interrupt`)."""


class ThreadGate:
    """`TurnGate` over `ThreadLocks` (Redis or in-process) and a `FenceStore`."""

    def __init__(self, sessions: Sessions, locks: ThreadLocks, fences: FenceStore) -> None:
        self.sessions = sessions
        self.locks = locks
        self.fences = fences

    def policy(self, channel: str) -> str:
        return self.sessions.gate.channel(channel).policy

    @asynccontextmanager
    async def admit(
        self, thread_id: str, channel: str, message: str, arrived_at: float | None = None
    ) -> AsyncIterator[Admission]:
        rules = self.sessions.gate.channel(channel)
        request_id = uuid.uuid4().hex[:16]
        text = message
        if rules.debounce_ms > 0:
            window_s = rules.debounce_ms / 1000
            max_s = window_s * _MAX_BURST_WINDOWS
            leader = await self.locks.join_burst(thread_id, request_id, message, max_s + 30)
            if leader != request_id:
                yield Admission(message=message, merged_into=leader, request_id=request_id)
                return
            texts = await self.locks.collect_burst(thread_id, request_id, window_s, max_s)
            text = "\n".join(texts) or message
        waiting = time.perf_counter()
        try:
            lease = await self.locks.acquire(
                thread_id,
                ttl_s=self.sessions.locks.ttl_s,
                mode=_MODES[rules.policy],
                arrived_at=arrived_at,
            )
        except Busy:
            raise ThreadBusy() from None
        try:
            fence = await self.fences.advance(thread_id, lease.token)
            yield Admission(
                message=text,
                fence=fence,
                interrupted=lease.interrupted,
                request_id=request_id,
                waited_s=time.perf_counter() - waiting,
            )
        finally:
            # The turn is over (its `done` may already be on the wire): a release that fails
            # (Redis died mid-turn) must not break the stream. The lock expires after its TTL.
            try:
                await lease.release()
            except Exception:
                log.exception(
                    "releasing the lock of thread %s failed; it expires in at most %ss",
                    thread_id,
                    self.sessions.locks.ttl_s,
                )

    async def aclose(self) -> None:
        await self.locks.aclose()


async def until_set(source: AsyncIterator[T], stop: asyncio.Event) -> AsyncIterator[T]:
    """`source`'s items until `stop` is set; then `source` is cancelled and `TurnInterrupted`
    raised. Racing each item costs a task, so only interruptible turns go through here."""
    stopper = asyncio.ensure_future(stop.wait())
    try:
        while True:
            step = asyncio.ensure_future(anext(source))  # type: ignore[arg-type]
            await asyncio.wait({step, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if not step.done():
                step.cancel()
                with suppress(asyncio.CancelledError, StopAsyncIteration):
                    await step
                raise TurnInterrupted
            try:
                item = step.result()
            except StopAsyncIteration:
                return
            yield item
    finally:
        stopper.cancel()
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            with suppress(Exception):
                await aclose()


async def open_gate(sessions: Sessions, stores: Stores) -> tuple[ThreadGate, FencedSaver]:
    """The gate for this process and the fenced checkpointer the graph must write through.

    With Redis: Redis locks on the service's client (in-process ones while Redis is down);
    without: in-process locks. Fences live on the SQL seam: on Postgres the `thread_fences`
    table (created by the migrations), elsewhere in-process.
    """
    fences = fences_for(stores.db)
    locks: ThreadLocks
    if stores.redis is not None:
        locks = FallbackThreadLocks(
            RedisThreadLocks(stores.redis.client, stores.settings.redis_prefix), stores.redis
        )
    else:
        locks = LocalThreadLocks()
    return ThreadGate(sessions, locks, fences), FencedSaver(stores.checkpointer, fences)
