"""A named lease: which one of the workers does a periodic job (the alert evaluator).

`RedisLease` is a Redis key set with `SET NX PX` to a random owner id; the holder renews it on
every round (a compare-and-renew script, so a worker whose lease expired and was taken never
extends someone else's), and gives it up on shutdown. A holder that dies stops renewing; another
worker takes over when the key expires. `LocalLease` is the one process of the embedded
default: always the holder.

While Redis is unreachable (its breaker open) `hold` says yes: running the job in every worker
for a while is safer than not running it at all, and the alerts' table itself lets only one
worker notify (checkpointing/alerts.py).
"""

from __future__ import annotations

import logging
import uuid
from typing import Protocol

from checkpointing.redis_guard import GuardedRedis, RedisUnavailable

log = logging.getLogger("esquadra.leases")

# KEYS[1] the lease, ARGV[1] our id, ARGV[2] ttl in ms: renew ours, or take a free one.
_HOLD = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class Lease(Protocol):
    async def hold(self) -> bool:
        """Take or renew the lease; True when this process holds it now."""
        ...

    async def release(self) -> None: ...


class LocalLease:
    """One process: it always holds the lease."""

    async def hold(self) -> bool:
        return True

    async def release(self) -> None:
        return None


class RedisLease:
    """The lease `key`, held for `ttl_s` past each `hold()`."""

    def __init__(self, redis: GuardedRedis, key: str, ttl_s: float) -> None:
        self.redis = redis
        self.key = key
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self.owner = uuid.uuid4().hex
        self.held = False

    async def hold(self) -> bool:
        try:
            got = await self.redis.call(
                lambda client: client.eval(_HOLD, 1, self.key, self.owner, self.ttl_ms)
            )
        except RedisUnavailable:
            return True  # see the module docstring
        held = bool(int(got))
        if held != self.held:
            log.info("lease %s %s", self.key, "taken" if held else "held by another worker")
        self.held = held
        return held

    async def release(self) -> None:
        if not self.held:
            return
        self.held = False
        try:
            await self.redis.call(lambda client: client.eval(_RELEASE, 1, self.key, self.owner))
        except RedisUnavailable:
            pass  # it expires on its own
