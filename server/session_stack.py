"""The identity and hot-session hooks of a turn, on the stores `open_stores` built: the
service's Redis client (keys under its prefix) or in-process, and the service's database."""

from __future__ import annotations

from checkpointing.hooks import IdentityService, SessionRecorder
from checkpointing.identity import IdentityStore
from checkpointing.langgraph_tables import checkpoint_tables
from checkpointing.link_codes import LinkCodes
from checkpointing.retention import CheckpointPruner
from checkpointing.sessions import HotSessions, LocalHot, RedisHot
from checkpointing.stores import Stores
from graphs.schema import Sessions


def session_hooks(stores: Stores, config: Sessions) -> tuple[IdentityService, SessionRecorder]:
    """Identity (with its hot cache and link codes) and the recorder that drives retention;
    close `recorder.pruner` before the stores."""
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
    return IdentityService(store, hot, LinkCodes(redis, prefix)), SessionRecorder(pruner)
