"""Fencing at the checkpoint write: a turn whose lock was taken over cannot write any more.

A turn runs with the fencing token of its thread lock in `config["configurable"][FENCE_KEY]`.
Before running, the gate *advances* the thread's durable fence to that token
(`FenceStore.advance`); every checkpoint write (`aput`, `aput_writes`) carrying a token is
refused with `FenceRejected` unless the token is still the thread's current one. Writes without
a token (CLI, Studio, maintenance) are not fenced.

`FencedSaver` is a wrapper, not a subclass: it holds the real saver and calls only its public
methods, so a LangGraph release that changes the saver's internals cannot silently disable the
fence (tests/test_fenced.py fails if LangGraph adds a public method the wrapper does not pass on).

On Postgres the fence is the row `thread_fences(thread_id, token)`, guarded by a transaction-level
advisory lock per thread. A fenced write opens a transaction on a connection of its own, takes
the lock *shared* and reads the token (`esquadra_fence_hold()`, migration 10: a VOLATILE function
whose read takes a fresh snapshot, so it sees every `advance` committed before the lock was
granted), runs the saver's public `aput`/`aput_writes` (which commits on the saver's
connection), and then commits. A takeover's `advance` takes the same lock *exclusive* before
updating the row, so it waits until an in-flight write has committed, and every later write of
the old holder finds a different token: no check-then-write gap. (If the fence connection itself
dies in the middle of a write, Postgres drops the lock early; the write then lands unfenced.
That needs a dead connection *and* a takeover in the same few milliseconds.) An advisory lock
rather than `SELECT … FOR SHARE`: a row lock writes the row and gives the transaction an id, so
its commit waits for a WAL flush — 7–10 ms per write on this machine against 3.5–4.5 ms.

Elsewhere (SQLite, memory: one process) the fence is a dict checked just before the write;
within one event loop the gap is the write's own awaits, and the in-process gate never lets two
holders overlap in the first place.

Tokens come from the lock (Redis INCR or a process counter). `advance` keeps the larger of
"current + 1" and the lock's token, so the fence stays monotonic even if Redis was flushed and
its counters restarted.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)

from checkpointing.sql import Database, PostgresDatabase

FENCE_KEY = "esquadra_fence"


class FenceRejected(Exception):
    """A checkpoint write carried a fencing token that is no longer the thread's current one."""

    def __init__(self, thread_id: str, token: int) -> None:
        super().__init__(f"thread {thread_id}: fencing token {token} was superseded")
        self.thread_id = thread_id
        self.token = token


class FenceStore(Protocol):
    async def advance(self, thread_id: str, token: int) -> int:
        """Make the thread's fence at least `token` and newer than before; the fence now."""
        ...

    def hold(self, thread_id: str, token: int) -> AbstractAsyncContextManager[None]:
        """Raise `FenceRejected` unless `token` is the thread's current fence; on Postgres, keep
        any `advance` of the thread waiting until the block exits."""
        ...


class LocalFences:
    """Fences of one process (SQLite, memory)."""

    def __init__(self) -> None:
        self._tokens: dict[str, int] = {}

    async def advance(self, thread_id: str, token: int) -> int:
        current = max(self._tokens.get(thread_id, 0) + 1, token)
        self._tokens[thread_id] = current
        return current

    @asynccontextmanager
    async def hold(self, thread_id: str, token: int) -> AsyncIterator[None]:
        if self._tokens.get(thread_id) != token:
            raise FenceRejected(thread_id, token)
        yield


# The two-key form: a key space apart from the one-key advisory locks of the other stores.
# One autocommit statement: the row to insert comes out of the exclusive lock's subquery, so the
# lock is granted (every in-flight fenced write committed) before the upsert runs, and it is
# released when the statement's own transaction commits. The upsert reads the latest committed
# token even when it committed after the statement began: ON CONFLICT DO UPDATE always takes
# the current row version, so the fence stays monotonic without a BEGIN/COMMIT round trip each.
_ADVANCE = """
INSERT INTO thread_fences (thread_id, token)
SELECT %s, %s FROM (
    SELECT pg_advisory_xact_lock(hashtext('esquadra_fence'), hashtext(%s))
) AS granted
ON CONFLICT (thread_id) DO UPDATE
SET token = GREATEST(thread_fences.token + 1, EXCLUDED.token), updated_at = now()
RETURNING token"""
# The shared lock, then the token read with a fresh snapshot (so it is the one the last
# `advance` committed), in one round trip: the function of migration 10.
_HOLD = "SELECT esquadra_fence_hold(%s, %s)"


class PostgresFences:
    """The `thread_fences` table (created by `checkpointing/migrations.py`), through the SQL
    seam (`checkpointing/sql.py`).

    A fenced write holds one connection of this pool while the saver's write takes another.
    If both come from the same pool, N writes holding N connections while each waits for one
    more would deadlock the pool (until its timeout). So at most `max_holders` (default: the
    pool's size − 1) transactions of this store are open at once, writes and `advance` alike —
    an `advance` also holds a connection while it waits for a write to commit. That leaves at
    least one connection for the saver's writes, and everything else on the pool takes a single
    connection and gives it back, so the chain always ends. On a separate pool the bound only
    keeps fences from taking every connection its other users need.
    """

    def __init__(self, db: PostgresDatabase, *, max_holders: int | None = None) -> None:
        self.db = db
        self.max_holders = max_holders or max(1, db.pool.max_size - 1)
        self._holders = asyncio.Semaphore(self.max_holders)

    async def advance(self, thread_id: str, token: int) -> int:
        async with self._holders:  # waits for in-flight fenced writes, holding a connection
            row = await self.db.fetchone(_ADVANCE, (thread_id, token, thread_id))
        if row is None:  # INSERT … RETURNING returns the row it wrote
            raise RuntimeError(f"thread_fences: no row returned for {thread_id}")
        return int(row[0])

    @asynccontextmanager
    async def hold(self, thread_id: str, token: int) -> AsyncIterator[None]:
        async with self._holders, self.db.transaction() as tx:
            row = await tx.fetchone(_HOLD, (thread_id, token))
            if row is None or not row[0]:
                raise FenceRejected(thread_id, token)
            yield


def fences_for(database: Database | None) -> FenceStore:
    """Postgres fences when `database` is the Postgres seam, else in-process ones."""
    if isinstance(database, PostgresDatabase):
        return PostgresFences(database)
    return LocalFences()


def _fence_of(config: RunnableConfig) -> tuple[str, int] | None:
    configurable = config.get("configurable", {})
    token = configurable.get(FENCE_KEY)
    return (str(configurable["thread_id"]), int(token)) if token else None


class FencedSaver(BaseCheckpointSaver):
    """`inner`, with every write that carries a fencing token checked against `fences`.

    Every public method of `BaseCheckpointSaver` is passed on to `inner`; `aput` and
    `aput_writes` run inside `fences.hold(...)`. The sync `put`/`put_writes` (graph.invoke) are
    passed on unfenced when the config carries no token and refused when it does: the fence
    stores are async.
    """

    def __init__(self, inner: BaseCheckpointSaver, fences: FenceStore) -> None:
        super().__init__(serde=inner.serde)
        self.inner = inner
        self.fences = fences

    def __repr__(self) -> str:
        return f"FencedSaver({self.inner!r})"

    @property
    def config_specs(self) -> list:
        return self.inner.config_specs

    def with_allowlist(self, extra_allowlist: Collection[tuple[str, ...]]) -> FencedSaver:
        inner = self.inner.with_allowlist(extra_allowlist)
        return self if inner is self.inner else FencedSaver(inner, self.fences)

    def get_next_version(self, current: Any, channel: None) -> Any:
        return self.inner.get_next_version(current, channel)

    # Reads.

    def get(self, config: RunnableConfig) -> Checkpoint | None:
        return self.inner.get(config)

    async def aget(self, config: RunnableConfig) -> Checkpoint | None:
        return await self.inner.aget(config)

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self.inner.get_tuple(config)

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await self.inner.aget_tuple(config)

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        return self.inner.list(config, filter=filter, before=before, limit=limit)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        async for item in self.inner.alist(config, filter=filter, before=before, limit=limit):
            yield item

    def get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, Any]:
        return self.inner.get_delta_channel_history(config=config, channels=channels)

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, Any]:
        return await self.inner.aget_delta_channel_history(config=config, channels=channels)

    # Writes: fenced when the config carries a token.

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        _refuse_sync_fenced(config)
        return self.inner.put(config, checkpoint, metadata, new_versions)

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        fence = _fence_of(config)
        if fence is None:
            return await self.inner.aput(config, checkpoint, metadata, new_versions)
        async with self.fences.hold(*fence):
            return await self.inner.aput(config, checkpoint, metadata, new_versions)

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        _refuse_sync_fenced(config)
        self.inner.put_writes(config, writes, task_id, task_path)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        fence = _fence_of(config)
        if fence is None:
            await self.inner.aput_writes(config, writes, task_id, task_path)
            return
        async with self.fences.hold(*fence):
            await self.inner.aput_writes(config, writes, task_id, task_path)

    # Maintenance: not part of a turn, never fenced.

    def delete_thread(self, thread_id: str) -> None:
        self.inner.delete_thread(thread_id)

    async def adelete_thread(self, thread_id: str) -> None:
        await self.inner.adelete_thread(thread_id)

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        self.inner.delete_for_runs(run_ids)

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        await self.inner.adelete_for_runs(run_ids)

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        self.inner.copy_thread(source_thread_id, target_thread_id)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await self.inner.acopy_thread(source_thread_id, target_thread_id)

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        self.inner.prune(thread_ids, strategy=strategy)

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        await self.inner.aprune(thread_ids, strategy=strategy)


def _refuse_sync_fenced(config: RunnableConfig) -> None:
    if _fence_of(config) is not None:
        raise TypeError("a fenced checkpoint write must use the async API (ainvoke, astream)")
