"""Fencing at the checkpoint write: a turn whose lock was taken over cannot write any more.

A turn runs with the fencing token of its thread lock in `config["configurable"][FENCE_KEY]`.
Before running, the gate *advances* the thread's durable fence to that token
(`FenceStore.advance`); every checkpoint write (`aput`, `aput_writes`) carrying a token is
refused with `FenceRejected` unless the token is still the thread's current one. Writes without
a token (CLI, Studio, maintenance) are not fenced.

On Postgres the fence is the row `thread_fences(thread_id, token)`. The check runs inside the
write's own transaction (`SELECT … FOR SHARE`), and advancing is an `UPDATE` of the same row,
so a takeover waits for an in-flight write to commit and every later write of the old holder
is refused: no check-then-write gap. Elsewhere (SQLite, memory: one process) the fence is a dict
checked just before the write; within one event loop the gap is the write's own awaits, and
the in-process gate never lets two holders overlap in the first place.

Tokens come from the lock (Redis INCR or a process counter). `advance` keeps the larger of
"current + 1" and the lock's token, so the fence stays monotonic even if Redis was flushed and
its counters restarted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any, Protocol

from langgraph.checkpoint.base import BaseCheckpointSaver

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

    async def check(self, thread_id: str, token: int) -> None:
        """Raise `FenceRejected` unless `token` is the thread's current fence."""
        ...


class LocalFences:
    """Fences of one process (SQLite, memory)."""

    def __init__(self) -> None:
        self._tokens: dict[str, int] = {}

    async def advance(self, thread_id: str, token: int) -> int:
        current = max(self._tokens.get(thread_id, 0) + 1, token)
        self._tokens[thread_id] = current
        return current

    async def check(self, thread_id: str, token: int) -> None:
        if self._tokens.get(thread_id) != token:
            raise FenceRejected(thread_id, token)


_CREATE = """
CREATE TABLE IF NOT EXISTS thread_fences (
    thread_id text PRIMARY KEY,
    token bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
)"""
_ADVANCE = """
INSERT INTO thread_fences (thread_id, token) VALUES (%s, %s)
ON CONFLICT (thread_id) DO UPDATE
SET token = GREATEST(thread_fences.token + 1, EXCLUDED.token), updated_at = now()
RETURNING token"""
# FOR SHARE: an `advance` (row update) waits until the write holding this lock commits.
_CHECK = "SELECT 1 FROM thread_fences WHERE thread_id = %s AND token = %s FOR SHARE"


class PostgresFences:
    """The `thread_fences` table, on the checkpointer's own pool."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    async def setup(self) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            # Workers starting together must not race on CREATE TABLE (catalog unique violation).
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('esquadra_fences'))")
            await conn.execute(_CREATE)

    async def advance(self, thread_id: str, token: int) -> int:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(_ADVANCE, (thread_id, token))
            row = await cursor.fetchone()
        return int(row["token"] if isinstance(row, dict) else row[0])

    async def check(self, thread_id: str, token: int) -> None:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(_CHECK, (thread_id, token))
            if await cursor.fetchone() is None:
                raise FenceRejected(thread_id, token)


def _fence_of(config: Any) -> tuple[str, int] | None:
    configurable = config.get("configurable", {})
    token = configurable.get(FENCE_KEY)
    return (str(configurable["thread_id"]), int(token)) if token else None


class _Fenced:
    """Mixed in before the saver's own class: check the fence around each write."""

    _fences: FenceStore

    async def aput(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        async with self._guard(config):
            return await super().aput(config, checkpoint, metadata, new_versions)  # type: ignore[misc]

    async def aput_writes(
        self, config: Any, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        async with self._guard(config):
            await super().aput_writes(config, writes, task_id, task_path)  # type: ignore[misc]

    @asynccontextmanager
    async def _guard(self, config: Any) -> AsyncIterator[None]:
        fence = _fence_of(config)
        if fence is not None:
            await self._fences.check(*fence)
        yield


_WRITE_FENCE: ContextVar[tuple[str, int] | None] = ContextVar("esquadra_write_fence", default=None)


class _FencedPostgres(_Fenced):
    """The check runs in the write's transaction (see the module docstring)."""

    @asynccontextmanager
    async def _guard(self, config: Any) -> AsyncIterator[None]:
        fence = _fence_of(config)
        if fence is not None and getattr(self, "pipe", None) is not None:
            # A shared pipelined connection cannot host our transaction: check, then write.
            await self._fences.check(*fence)
        reset = _WRITE_FENCE.set(fence)
        try:
            yield
        finally:
            _WRITE_FENCE.reset(reset)

    @asynccontextmanager
    async def _cursor(self, *, pipeline: bool = False) -> AsyncIterator[Any]:
        fence = _WRITE_FENCE.get()
        if fence is None or not pipeline or getattr(self, "pipe", None) is not None:
            async with super()._cursor(pipeline=pipeline) as cur:  # type: ignore[misc]
                yield cur
            return
        from langgraph.checkpoint.postgres import _ainternal
        from psycopg.rows import dict_row

        # Same shape as AsyncPostgresSaver._cursor (its lock, its pool), in one transaction.
        async with self.lock, _ainternal.get_connection(self.conn) as conn:  # type: ignore[attr-defined]
            async with conn.transaction(), conn.cursor(binary=True, row_factory=dict_row) as cur:
                await cur.execute(_CHECK, fence)
                if await cur.fetchone() is None:
                    raise FenceRejected(*fence)
                yield cur


_classes: dict[type, type] = {}


def fence_checkpointer(saver: BaseCheckpointSaver, fences: FenceStore) -> BaseCheckpointSaver:
    """A view of `saver` whose writes are fenced; `saver` itself is left unfenced.

    The view shares the saver's attributes; its class puts the fence check in front of the
    saver's own methods, so every other method is the saver's.
    """
    base = type(saver)
    cls = _classes.get(base)
    if cls is None:
        mixin: type = _FencedPostgres if _is_postgres(saver) else _Fenced
        cls = _classes[base] = type(f"Fenced{base.__name__}", (mixin, base), {})
    view = cls.__new__(cls)
    view.__dict__.update(saver.__dict__)  # shared, not copied: the same pool, lock and storage
    view._fences = fences  # type: ignore[attr-defined]
    return view


def _is_postgres(saver: BaseCheckpointSaver) -> bool:
    try:
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    except ImportError:
        return False
    return isinstance(saver, AsyncPostgresSaver)


def fences_for(saver: BaseCheckpointSaver) -> FenceStore:
    """Postgres fences on the saver's pool when it is Postgres, else in-process ones."""
    if _is_postgres(saver):
        return PostgresFences(saver.conn)  # type: ignore[attr-defined]
    return LocalFences()
