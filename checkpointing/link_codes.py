"""One-time link codes: 6 digits, valid 10 minutes, single use, in Redis (or in-process).

A code is asked for on the channel the user is on and typed on the other one. In Redis every
worker sees it (`SET NX EX`, redeemed with `GETDEL`, so two redemptions cannot both win).
Without Redis, or while it is down, codes live in this process only — enough for the embedded
default's single worker. Failed attempts are counted per sender so six digits cannot be
brute-forced inside a code's lifetime.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

from checkpointing.redis_guard import GuardedRedis, RedisUnavailable

CODE_TTL_S = 600
MAX_FAILED_ATTEMPTS = 5


@dataclass
class _Local:
    """Expiring entries in this process; expired ones are dropped as they are met."""

    items: dict[str, tuple[str, float]] = field(default_factory=dict)

    def put(self, key: str, value: str, ttl_s: float) -> bool:
        self._purge()
        if key in self.items:
            return False
        self.items[key] = (value, time.monotonic() + ttl_s)
        return True

    def pop(self, key: str) -> str | None:
        self._purge()
        value = self.items.pop(key, None)
        return value[0] if value else None

    def incr(self, key: str, ttl_s: float) -> int:
        self._purge()
        count, expires = self.items.get(key, ("0", time.monotonic() + ttl_s))
        self.items[key] = (str(int(count) + 1), expires)
        return int(count) + 1

    def _purge(self) -> None:
        now = time.monotonic()
        for key in [k for k, (_, exp) in self.items.items() if exp <= now]:
            del self.items[key]


class TooManyAttempts(Exception):
    """This sender got the code wrong too often; it must wait for the window to pass."""


class LinkCodes:
    def __init__(self, redis: GuardedRedis | None, prefix: str, *, ttl_s: int = CODE_TTL_S) -> None:
        self.redis = redis
        self.prefix = prefix
        self.ttl_s = ttl_s
        self._local = _Local()

    async def issue(self, user_id: str) -> str:
        """A fresh code for `user_id`, valid `ttl_s` seconds."""
        while True:
            code = f"{secrets.randbelow(1_000_000):06d}"
            key = self._key(code)
            if self.redis is not None:
                try:
                    stored = await self.redis.call(
                        lambda r, k=key: r.set(k, user_id, ex=self.ttl_s, nx=True)
                    )
                except RedisUnavailable:
                    pass
                else:
                    if stored:
                        return code
                    continue  # collision with a live code: draw again
            if self._local.put(key, user_id, self.ttl_s):
                return code

    async def redeem(self, code: str, channel: str, sender_id: str) -> str | None:
        """The user the code was issued for, consuming it; None when wrong or expired."""
        attempts_key = f"{self.prefix}link-attempts:{channel}:{sender_id}"
        if await self._failed_attempts(attempts_key, peek=True) >= MAX_FAILED_ATTEMPTS:
            raise TooManyAttempts(sender_id)
        key = self._key(code)
        user_id: str | None = None
        if self.redis is not None:
            try:
                raw = await self.redis.call(lambda r: r.getdel(key))
                user_id = raw.decode() if isinstance(raw, bytes) else raw
            except RedisUnavailable:
                pass
        user_id = user_id or self._local.pop(key)
        if user_id is None:
            await self._failed_attempts(attempts_key, peek=False)
        return user_id

    async def _failed_attempts(self, key: str, *, peek: bool) -> int:
        if self.redis is not None:
            try:
                if peek:
                    raw = await self.redis.call(lambda r: r.get(key))
                    return int(raw or 0)

                async def bump(r):  # type: ignore[no-untyped-def]
                    async with r.pipeline(transaction=False) as pipe:
                        pipe.incr(key)
                        pipe.expire(key, self.ttl_s, nx=True)
                        count, _ = await pipe.execute()
                    return int(count)

                return await self.redis.call(bump)
            except RedisUnavailable:
                pass
        if peek:
            entry = self._local.items.get(key)
            return int(entry[0]) if entry and entry[1] > time.monotonic() else 0
        return self._local.incr(key, self.ttl_s)

    def _key(self, code: str) -> str:
        return f"{self.prefix}link-code:{code}"
