"""Opens identity, hot sessions, link codes and retention for the app's lifespan.

On the stores `open_stores` built: the service's Redis client (keys under its prefix) or
in-process, and the identity tables on the service's database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from checkpointing.hooks import IdentityService, SessionRecorder
from checkpointing.identity import IdentityStore
from checkpointing.langgraph_tables import checkpoint_tables
from checkpointing.link_codes import LinkCodes
from checkpointing.redis_guard import GuardedRedis
from checkpointing.retention import CheckpointPruner
from checkpointing.sessions import HotSessions, LocalHot, RedisHot
from checkpointing.stores import Stores
from graphs.schema import Sessions


@dataclass
class SessionStack:
    identity: IdentityService
    recorder: SessionRecorder
    hot: HotSessions
    pruner: CheckpointPruner
    redis: GuardedRedis | None


@asynccontextmanager
async def open_session_stack(stores: Stores, config: Sessions) -> AsyncIterator[SessionStack]:
    """Everything the identity and session hooks need, closed in reverse order on exit."""
    redis, prefix = stores.redis, stores.settings.redis_prefix
    store = IdentityStore(stores.db)
    hot = HotSessions(
        RedisHot(redis) if redis is not None else LocalHot(),
        prefix,
        ttl_hours=config.cache.ttl_hours,
        identity=store,
    )
    if redis is not None:
        redis.on_recovery(hot.drop_stale)
    tables = checkpoint_tables(stores.backend, stores.db)
    pruner = CheckpointPruner(tables, config.retention.keep_checkpoints)
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
