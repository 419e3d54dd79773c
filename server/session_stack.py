"""Opens identity, hot sessions, link codes and retention for the app's lifespan.

Redis when `REDIS_URL` is set (keys under `ESQUADRA_REDIS_PREFIX`), in-process otherwise;
identity tables on `DATABASE_URL`'s Postgres, or SQLite next to the embedded checkpoints.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checkpointing.hooks import IdentityService, SessionRecorder
from checkpointing.identity import IdentityStore
from checkpointing.link_codes import LinkCodes
from checkpointing.redis_guard import GuardedRedis, connect_redis, redis_prefix
from checkpointing.retention import CheckpointPruner
from checkpointing.sessions import HotSessions, LocalHot, RedisHot
from checkpointing.sql import open_database
from graphs.schema import Sessions
from server.settings import Settings


@dataclass
class SessionStack:
    identity: IdentityService
    recorder: SessionRecorder
    hot: HotSessions
    pruner: CheckpointPruner
    redis: GuardedRedis | None


@asynccontextmanager
async def open_session_stack(
    settings: Settings, config: Sessions, checkpointer: Any
) -> AsyncIterator[SessionStack]:
    """Everything the identity and session hooks need, closed in reverse order on exit."""
    if settings.database_url == "memory":  # tests: nothing on disk, like the memory saver
        database_url, sqlite_path = None, Path(":memory:")
    else:
        database_url, sqlite_path = settings.database_url, settings.data_dir / "identity.sqlite"
    async with open_database(database_url, sqlite_path) as db:
        store = IdentityStore(db)
        await store.setup()
        redis = GuardedRedis(connect_redis(settings.redis_url)) if settings.redis_url else None
        prefix = redis_prefix()
        hot = HotSessions(
            RedisHot(redis) if redis is not None else LocalHot(),
            prefix,
            ttl_hours=config.cache.ttl_hours,
            identity=store,
        )
        if redis is not None:
            redis.on_recovery(hot.drop_stale)
        pruner = CheckpointPruner(checkpointer, config.retention.keep_checkpoints)
        stack = SessionStack(
            identity=IdentityService(store, hot, LinkCodes(redis, prefix)),
            recorder=SessionRecorder(pruner),
            hot=hot,
            pruner=pruner,
            redis=redis,
        )
        try:
            yield stack
        finally:
            await pruner.aclose()
            if redis is not None:
                await redis.aclose()
