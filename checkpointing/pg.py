"""The one way this service opens a Postgres connection pool (checkpoints, identity, memory)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any


@asynccontextmanager
async def postgres_pool(url: str, *, max_size: int, row_factory: Any = None) -> AsyncIterator[Any]:
    """An open `AsyncConnectionPool`, closed on exit.

    autocommit: every store runs its own explicit transactions. prepare_threshold=0: pgbouncer
    in transaction mode cannot keep server-side prepared statements between requests.
    """
    from psycopg_pool import AsyncConnectionPool

    kwargs: dict[str, Any] = {"autocommit": True, "prepare_threshold": 0}
    if row_factory is not None:
        kwargs["row_factory"] = row_factory
    pool = AsyncConnectionPool(
        conninfo=url, min_size=1, max_size=max_size, open=False, kwargs=kwargs
    )
    await pool.open(wait=True, timeout=10)
    try:
        yield pool
    finally:
        await pool.close()
