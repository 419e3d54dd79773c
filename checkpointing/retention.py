"""Checkpoint retention: keep the newest K checkpoints per thread, prune the rest in the background.

LangGraph writes a few checkpoints per turn and never deletes any; on Postgres each one also
pins a blob of the whole message list, so a busy thread grows quadratically in bytes. Only the
latest checkpoint is needed to continue a conversation; the last K keep a little history for
debugging and time travel.

Pruning is off the request path: `after_turn` only counts, and every `every_turns` turns of a
thread it schedules one background prune (one at a time per process, so it never competes with
turns for more than one connection). It is safe next to a running turn on the same thread:
checkpoint ids and blob versions only grow, so a row being written now is always newer than
everything the prune may delete.
"""

from __future__ import annotations

import asyncio
import logging

from checkpointing.langgraph_tables import CheckpointTables, Pruned

__all__ = ["CheckpointPruner", "Pruned"]

log = logging.getLogger("esquadra.retention")


class CheckpointPruner:
    """Prunes the checkpointer's own tables (Postgres or SQLite; the memory saver is skipped).

    `tables` is where the checkpointer keeps them (`checkpoint_tables(stores.backend,
    stores.db)`; None: nothing to prune). The statements are in
    `checkpointing/langgraph_tables.py`.
    """

    def __init__(
        self, tables: CheckpointTables | None, keep: int, *, every_turns: int | None = None
    ) -> None:
        self.keep = keep
        # A turn writes ~3 checkpoints; pruning every keep/4 turns caps a thread near 1.75 K rows.
        self.every_turns = every_turns or max(1, keep // 4)
        self.tables = tables
        self._turns: dict[str, int] = {}
        self._pending: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._one_at_a_time = asyncio.Semaphore(1)

    def after_turn(self, thread_id: str) -> None:
        """Count a turn; every `every_turns` turns schedule a prune of this thread."""
        if self.tables is None:
            return
        turns = self._turns.get(thread_id, 0) + 1
        if turns < self.every_turns or thread_id in self._pending:
            self._turns[thread_id] = turns
            return
        self._turns.pop(thread_id, None)
        self._pending.add(thread_id)
        task = asyncio.create_task(self._run(thread_id), name=f"prune:{thread_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, thread_id: str) -> None:
        try:
            async with self._one_at_a_time:
                await self.prune(thread_id)
        except Exception:
            log.exception("pruning checkpoints of thread %s failed", thread_id)
        finally:
            self._pending.discard(thread_id)

    async def prune(self, thread_id: str) -> Pruned:
        """Delete all but the newest `keep` checkpoints of the thread (and what only they used)."""
        if self.tables is None:
            return Pruned(0, 0, 0)
        return await self.tables.prune(thread_id, self.keep)

    async def drain(self) -> None:
        """Wait for scheduled prunes (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
