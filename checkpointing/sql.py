"""A tiny async SQL seam over Postgres (psycopg pool) and SQLite (aiosqlite), for our own tables.

The checkpointer owns its tables; identity (and anything else small we keep next to it) needs
just "run this statement in a transaction" on both backends. Statements are written once with
`%s` placeholders and ISO timestamps; the SQLite side rewrites them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from checkpointing.pg import postgres_pool


class Tx(Protocol):
    """One transaction: statements run in order and commit together."""

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement; the number of rows it changed."""
        ...

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None: ...

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...


class Database(Protocol):
    dialect: str  # "postgres" | "sqlite"

    def transaction(self) -> Any:
        """An async context manager yielding a `Tx`; rolled back if the block raises."""
        ...


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(value: Any) -> str | None:
    """A timestamp from either backend as ISO 8601 (Postgres gives datetimes, SQLite strings)."""
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)


class _PgTx:
    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        cur = await self._conn.execute(sql, params)
        return cur.rowcount

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        cur = await self._conn.execute(sql, params)
        return await cur.fetchone()

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cur = await self._conn.execute(sql, params)
        return await cur.fetchall()


class PostgresDatabase:
    """Transactions on a psycopg async pool (autocommit connections, so BEGIN is explicit)."""

    dialect = "postgres"

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        async with self.pool.connection() as conn, conn.transaction():
            yield _PgTx(conn)


class _SqliteTx:
    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        cur = await self._conn.execute(_sqlite_sql(sql), _sqlite_params(params))
        return cur.rowcount

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        cur = await self._conn.execute(_sqlite_sql(sql), _sqlite_params(params))
        row = await cur.fetchone()
        return tuple(row) if row is not None else None

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cur = await self._conn.execute(_sqlite_sql(sql), _sqlite_params(params))
        return [tuple(row) for row in await cur.fetchall()]


class SqliteDatabase:
    """One aiosqlite connection; a lock keeps transactions from interleaving on it."""

    dialect = "sqlite"

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        async with self._lock:
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield _SqliteTx(self.conn)
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
            await self.conn.execute("COMMIT")


@asynccontextmanager
async def open_database(
    database_url: str | None, sqlite_path: Path, *, pool_size: int = 4
) -> AsyncIterator[Database]:
    """Postgres when `database_url` is set (same pool settings as the checkpointer), else SQLite."""
    if database_url:
        async with postgres_pool(database_url, max_size=pool_size) as pool:
            yield PostgresDatabase(pool)
        return
    import aiosqlite

    if str(sqlite_path) != ":memory:":
        await asyncio.to_thread(sqlite_path.parent.mkdir, parents=True, exist_ok=True)
    # isolation_level=None: we issue BEGIN ourselves, so reads outside a transaction see commits
    # from other processes at once.
    async with aiosqlite.connect(str(sqlite_path), isolation_level=None) as conn:
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA busy_timeout=5000")
        yield SqliteDatabase(conn)


def _sqlite_sql(sql: str) -> str:
    return sql.replace("%s", "?")


def _sqlite_params(params: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(p.isoformat() if isinstance(p, datetime) else p for p in params)
