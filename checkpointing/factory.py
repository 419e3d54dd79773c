"""Open the LangGraph checkpointer that holds every conversation: Postgres, SQLite or memory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver

from checkpointing.pg import postgres_pool


def describe_backend(database_url: str | None) -> str:
    """Which store `open_checkpointer` would use, for logs and /readyz."""
    if database_url is None:
        return "sqlite"
    if database_url == "memory":
        return "memory"
    return "postgres"


@asynccontextmanager
async def open_checkpointer(
    database_url: str | None, data_dir: Path, *, pool_size: int = 10
) -> AsyncIterator[BaseCheckpointSaver]:
    """Yield a ready checkpointer: `postgres://…` → Postgres, "memory" → RAM, None → SQLite file."""
    backend = describe_backend(database_url)
    if backend == "memory":
        yield InMemorySaver()
    elif backend == "postgres":
        async with _postgres(database_url or "", pool_size) as saver:
            yield saver
    else:
        async with _sqlite(data_dir) as saver:
            yield saver


@asynccontextmanager
async def _postgres(url: str, pool_size: int) -> AsyncIterator[BaseCheckpointSaver]:
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from psycopg.rows import dict_row

    async with postgres_pool(url, max_size=pool_size, row_factory=dict_row) as pool:
        saver = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
        async with setup_lock(url, "esquadra_checkpoint_setup"):
            await saver.setup()
        yield saver


@asynccontextmanager
async def setup_lock(url: str, name: str) -> AsyncIterator[None]:
    """Serialise schema setup across processes: workers starting together on a new database
    otherwise race in CREATE TABLE / CREATE TYPE (a unique violation in Postgres' catalog that
    fails one worker's start-up, and uvicorn then stops them all)."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        # Polled, not a blocking pg_advisory_lock: LangGraph's migrations CREATE INDEX
        # CONCURRENTLY, which waits for every open statement — a waiter blocked in
        # pg_advisory_lock would be one, and neither would ever finish.
        while True:
            cursor = await conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (name,))
            row = await cursor.fetchone()
            if row and row[0]:
                break
            await asyncio.sleep(0.1)
        try:
            yield
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (name,))


@asynccontextmanager
async def _sqlite(data_dir: Path) -> AsyncIterator[BaseCheckpointSaver]:
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
    async with AsyncSqliteSaver.from_conn_string(str(data_dir / "checkpoints.sqlite")) as saver:
        await saver.setup()
        yield saver
