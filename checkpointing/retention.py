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
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("esquadra.retention")

# Postgres: rank per namespace, newest first; delete past K; then the writes of deleted
# checkpoints; then blobs no kept checkpoint references and not newer than the newest
# referenced version (a newer blob may belong to a checkpoint being written right now).
_PG_CHECKPOINTS = """
DELETE FROM checkpoints c USING (
    SELECT checkpoint_ns, checkpoint_id,
           row_number() OVER (PARTITION BY checkpoint_ns ORDER BY checkpoint_id DESC) AS rn
    FROM checkpoints WHERE thread_id = %(thread)s
) r
WHERE c.thread_id = %(thread)s AND c.checkpoint_ns = r.checkpoint_ns
  AND c.checkpoint_id = r.checkpoint_id AND r.rn > %(keep)s
"""
_PG_WRITES = """
DELETE FROM checkpoint_writes w
WHERE w.thread_id = %(thread)s AND w.checkpoint_id < (
    SELECT min(c.checkpoint_id) FROM checkpoints c
    WHERE c.thread_id = w.thread_id AND c.checkpoint_ns = w.checkpoint_ns)
"""
_PG_BLOBS = """
WITH referenced AS (
    SELECT c.checkpoint_ns, v.key AS channel, v.value AS version
    FROM checkpoints c, jsonb_each_text(c.checkpoint -> 'channel_versions') v
    WHERE c.thread_id = %(thread)s
), newest AS (
    SELECT checkpoint_ns, max(version) AS version FROM referenced GROUP BY checkpoint_ns
)
DELETE FROM checkpoint_blobs b USING newest n
WHERE b.thread_id = %(thread)s AND b.checkpoint_ns = n.checkpoint_ns
  AND b.version <= n.version
  AND NOT EXISTS (
    SELECT 1 FROM referenced r
    WHERE r.checkpoint_ns = b.checkpoint_ns AND r.channel = b.channel AND r.version = b.version)
"""

_SQLITE_CHECKPOINTS = """
DELETE FROM checkpoints WHERE rowid IN (
    SELECT rowid FROM (
        SELECT rowid, row_number() OVER (
            PARTITION BY checkpoint_ns ORDER BY checkpoint_id DESC) AS rn
        FROM checkpoints WHERE thread_id = :thread)
    WHERE rn > :keep)
"""
_SQLITE_WRITES = """
DELETE FROM writes
WHERE thread_id = :thread AND checkpoint_id < (
    SELECT min(c.checkpoint_id) FROM checkpoints c
    WHERE c.thread_id = writes.thread_id AND c.checkpoint_ns = writes.checkpoint_ns)
"""


@dataclass(frozen=True)
class Pruned:
    checkpoints: int
    writes: int
    blobs: int


class CheckpointPruner:
    """Prunes the checkpointer's own tables (Postgres or SQLite; the memory saver is skipped)."""

    def __init__(self, checkpointer: Any, keep: int, *, every_turns: int | None = None) -> None:
        self.checkpointer = checkpointer
        self.keep = keep
        # A turn writes ~3 checkpoints; pruning every keep/4 turns caps a thread near 1.75 K rows.
        self.every_turns = every_turns or max(1, keep // 4)
        self.backend = _backend(checkpointer)
        self._turns: dict[str, int] = {}
        self._pending: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._one_at_a_time = asyncio.Semaphore(1)

    def after_turn(self, thread_id: str) -> None:
        """Count a turn; every `every_turns` turns schedule a prune of this thread."""
        if self.backend is None:
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
        params = {"thread": thread_id, "keep": self.keep}
        if self.backend == "postgres":
            async with self.checkpointer.conn.connection() as conn, conn.transaction():
                counts = [(await conn.execute(sql, params)).rowcount for sql in _PG_STATEMENTS]
            return Pruned(*counts)
        if self.backend == "sqlite":
            saver = self.checkpointer
            async with saver.lock:
                checkpoints = (await saver.conn.execute(_SQLITE_CHECKPOINTS, params)).rowcount
                writes = (await saver.conn.execute(_SQLITE_WRITES, params)).rowcount
                await saver.conn.commit()
            return Pruned(checkpoints, writes, 0)
        return Pruned(0, 0, 0)

    async def drain(self) -> None:
        """Wait for scheduled prunes (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)


_PG_STATEMENTS = (_PG_CHECKPOINTS, _PG_WRITES, _PG_BLOBS)


def _backend(checkpointer: Any) -> str | None:
    name = type(checkpointer).__name__
    if name == "AsyncPostgresSaver":
        return "postgres"
    if name == "AsyncSqliteSaver":
        return "sqlite"
    return None
