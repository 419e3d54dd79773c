"""The registry's revision on Redis pub/sub: a write announces it, every worker hears it at once.

Pub/sub is fire-and-forget (a worker that is reconnecting misses messages), so it only makes
workers refresh sooner: the revision poll (`graphs/live.py`) stays as the fallback, and after
every (re)subscription the listener refreshes once, in case it missed something. Both sides go
through the service's one Redis client (`GuardedRedis`): the announcement by `call` (so an open
breaker costs nothing), the listener on its own pub/sub connection from the same pool.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from checkpointing.redis_guard import GuardedRedis, RedisUnavailable

log = logging.getLogger("esquadra.registry")

CHANNEL = "registry:revision"  # under the settings' Redis prefix
RECONNECT_MAX_S = 5.0
# How long one read waits for a message: short, so a dead connection is noticed and the task
# can be cancelled promptly (the pool's health checks ping a subscribed connection too).
READ_TIMEOUT_S = 1.0


class RevisionBus:
    """Publishes and listens to the registry revision on `<prefix>registry:revision`."""

    def __init__(self, redis: GuardedRedis, prefix: str) -> None:
        self.redis = redis
        self.channel = f"{prefix}{CHANNEL}"

    async def publish(self, revision: int) -> bool:
        """Tell every worker; False when Redis is unavailable (they will poll it instead)."""
        try:
            await self.redis.call(lambda client: client.publish(self.channel, str(revision)))
        except RedisUnavailable:
            log.warning("registry revision %d not published: Redis unavailable", revision)
            return False
        return True

    async def listen(
        self,
        on_revision: Callable[[int | None], Awaitable[object]],
        subscribed: asyncio.Event | None = None,
    ) -> None:
        """Call `on_revision(n)` for each announced revision, and `on_revision(None)` after
        each (re)subscription; runs until cancelled, reconnecting with a capped back-off."""
        from redis.exceptions import RedisError

        backoff = 0.0
        while True:
            pubsub = self.redis.client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                backoff = 0.0
                if subscribed is not None:
                    subscribed.set()
                await on_revision(None)  # whatever was announced while we were away
                while True:
                    message = await pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=READ_TIMEOUT_S
                    )
                    if message is not None and message.get("type") == "message":
                        await on_revision(_revision(message.get("data")))
            except (RedisError, OSError) as exc:
                backoff = min(RECONNECT_MAX_S, backoff * 2 or 0.5)
                log.warning(
                    "registry pub/sub lost (%s: %s); polling only, resubscribing in %.1fs",
                    type(exc).__name__,
                    exc,
                    backoff,
                )
            finally:
                if subscribed is not None:
                    subscribed.clear()
                try:
                    await pubsub.aclose()
                except (RedisError, OSError):
                    pass
            await asyncio.sleep(backoff)


def _revision(data: object) -> int | None:
    try:
        return int(data.decode() if isinstance(data, bytes) else str(data))
    except ValueError:
        return None
