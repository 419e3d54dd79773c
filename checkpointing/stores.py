"""Every connection the service holds, built once from the settings: `open_stores`.

- Postgres (`DATABASE_URL`): ONE psycopg pool shared by LangGraph's checkpointer and every table
  of ours (through the SQL seam, `checkpointing/sql.py`).
- Embedded default: ONE SQLite file, `<data dir>/esquadra.sqlite`, with two connections — the
  checkpointer's and the seam's — because each runs its own transactions and a transaction on
  a shared aiosqlite connection would swallow the other's statements. `memory`: RAM (tests).
- Redis (`REDIS_URL`): ONE client behind ONE breaker (`GuardedRedis`): locks, hot sessions,
  link codes and the memory stream all use it; while it is down each falls back to its
  in-process or durable path.

Our tables are migrated (`checkpointing/migrations.py`) before anything uses them; LangGraph
sets up its own tables with its public `setup()`, serialised across workers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from checkpointing.migrations import adopt_legacy_checkpoints, import_legacy_tables, migrate
from checkpointing.redis_guard import GuardedRedis
from checkpointing.sql import (
    Database,
    PostgresDatabase,
    SqliteDatabase,
    postgres_pool,
    sqlite_connection,
)
from core.settings import Settings

SQLITE_FILE = "esquadra.sqlite"
POOL_SIZE = 20


class StoreUnavailable(RuntimeError):
    """A configured store cannot be reached or used; the message says which and what to do."""


@dataclass
class Stores:
    """The service's connections; `aclose()` closes them in reverse order of opening."""

    settings: Settings
    db: Database  # every table of ours
    checkpointer: BaseCheckpointSaver  # LangGraph's tables: the conversations
    redis: GuardedRedis | None  # None: no REDIS_URL (in-process locks and sessions)
    aclose: Callable[[], Awaitable[None]]

    @property
    def backend(self) -> str:
        return self.settings.backend


@asynccontextmanager
async def open_stores(settings: Settings) -> AsyncIterator[Stores]:
    """Every store, opened from the settings and closed on exit (also by `stores.aclose()`)."""
    async with AsyncExitStack() as stack:
        yield await _open(settings, stack)


async def _open(settings: Settings, stack: AsyncExitStack) -> Stores:
    redis = None
    if settings.redis_url:
        redis = GuardedRedis(connect_redis(settings.redis_url))
        stack.push_async_callback(redis.aclose)
    if settings.backend == "postgres":
        url = settings.database_url or ""
        await check_database(url)
        pool = await stack.enter_async_context(postgres_pool(url, max_size=POOL_SIZE))
        db: Database = PostgresDatabase(pool)
        await migrate(db)
        checkpointer = await _postgres_checkpointer(pool)
        return Stores(settings, db, checkpointer, redis, stack.aclose)
    if settings.backend == "memory":
        from langgraph.checkpoint.memory import InMemorySaver

        conn = await stack.enter_async_context(sqlite_connection(":memory:"))
        db = SqliteDatabase(conn)
        await migrate(db)
        return Stores(settings, db, InMemorySaver(), redis, stack.aclose)
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    path = settings.data_dir / SQLITE_FILE
    await asyncio.to_thread(adopt_legacy_checkpoints, settings.data_dir, path)
    conn = await stack.enter_async_context(sqlite_connection(path))
    db = SqliteDatabase(conn)
    await migrate(db)
    await import_legacy_tables(db, conn, settings.data_dir)
    saver_conn = await stack.enter_async_context(sqlite_connection(path))
    checkpointer = AsyncSqliteSaver(saver_conn)
    await checkpointer.setup()
    return Stores(settings, db, checkpointer, redis, stack.aclose)


async def _postgres_checkpointer(pool: Any) -> BaseCheckpointSaver:
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    saver = AsyncPostgresSaver(pool)
    async with pool.connection() as conn:
        # Polled, not a blocking pg_advisory_lock: LangGraph's migrations CREATE INDEX
        # CONCURRENTLY, which waits for every open statement — a waiter blocked in
        # pg_advisory_lock would be one, and neither would ever finish. Without the lock,
        # workers starting together race in CREATE TABLE (a catalog unique violation).
        while True:
            cursor = await conn.execute(
                "SELECT pg_try_advisory_lock(hashtext('esquadra_checkpoint_setup')) AS ok"
            )
            if (await cursor.fetchone())["ok"]:
                break
            await asyncio.sleep(0.1)
        try:
            await saver.setup()
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext('esquadra_checkpoint_setup'))")
    return saver


async def check_database(url: str) -> None:
    """Raise `StoreUnavailable` with one line naming the database, role or server and the fix."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    try:
        conn = await psycopg.AsyncConnection.connect(url, connect_timeout=5)
    except psycopg.OperationalError as exc:
        info = conninfo_to_dict(url)
        name, user = info.get("dbname", "?"), info.get("user", "?")
        host = f"{info.get('host', 'localhost')}:{info.get('port', 5432)}"
        text = str(exc).strip().splitlines()[-1] if str(exc).strip() else repr(exc)
        if "does not exist" in text and "database" in text:
            fix = f"create it with: createdb -h {info.get('host', 'localhost')} -U {user} {name}"
            raise StoreUnavailable(f"PostgreSQL database {name!r} does not exist; {fix}") from None
        if "does not exist" in text and "role" in text:
            raise StoreUnavailable(
                f"PostgreSQL role {user!r} does not exist on {host}; create it with: "
                f"createuser -h {info.get('host', 'localhost')} {user}"
            ) from None
        raise StoreUnavailable(f"PostgreSQL at {host} ({name}): {text}") from None
    await conn.close()


def connect_redis(url: str) -> Any:
    """The service's one Redis client (`rediss://` for TLS, e.g. Upstash).

    A blocking pool: many lock waiters share few connections and wait their turn instead of
    failing (which would look like Redis being down). Timeouts of 2 s and one quick retry: a
    burst of a hundred turns opens dozens of connections at once on a busy machine, and a
    tighter bound tripped the shared breaker there (locks fell back to in-process while others
    still held Redis locks; tests/test_concurrency.py caught it). A refused connection still
    fails at once.
    """
    from redis.asyncio import BlockingConnectionPool, Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=64,
        timeout=10,
        socket_connect_timeout=2,
        socket_timeout=2,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=15,
    )
    return Redis.from_pool(pool)  # closing the client closes the pool
