"""Redis behind a circuit breaker, so a dead Redis costs a turn microseconds, not seconds.

Everything kept in Redis by this package (hot sessions, link codes) can be rebuilt or done
without, so callers catch `RedisUnavailable` and carry on with the durable store. After a
failure the breaker stays open for a short backoff (doubling up to `max_backoff_s`); the first
call after it tries Redis again, which is how recovery happens without a restart.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

log = logging.getLogger("esquadra.redis")

T = TypeVar("T")


class RedisUnavailable(Exception):
    """Redis is down or the breaker is open: use the durable store instead."""


class GuardedRedis:
    """The service's Redis client plus its one breaker; `call` runs a command or raises
    `RedisUnavailable`. Every Redis user (locks, sessions, link codes, memory stream) shares
    it, so one failure anywhere opens the breaker for all of them."""

    def __init__(
        self,
        client: Any,
        *,
        first_backoff_s: float = 0.5,
        max_backoff_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self._first = first_backoff_s
        self._max = max_backoff_s
        self._clock = clock
        self._backoff = 0.0
        self._open_until = 0.0
        self._recover_hooks: list[Callable[[], Awaitable[None]]] = []
        self.last_error: str | None = None

    @property
    def available(self) -> bool:
        """False while the breaker is open (Redis failed recently)."""
        return self._clock() >= self._open_until

    def on_recovery(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run `hook` on the first success after an outage (e.g. drop keys that went stale)."""
        self._recover_hooks.append(hook)

    async def call(self, command: Callable[[Any], Awaitable[T]]) -> T:
        """`await command(client)`, or `RedisUnavailable` at once while the breaker is open."""
        from redis.exceptions import RedisError

        if not self.available:
            raise RedisUnavailable(self.last_error or "redis unavailable")
        try:
            if self._backoff:
                # First try after an outage: make sure Redis answers, then let the owners of
                # possibly stale keys clean up before any command can read one.
                await self.client.ping()
                await self._recovered()
            return await command(self.client)
        except (RedisError, OSError, TimeoutError) as exc:
            self.trip(exc)
            raise RedisUnavailable(self.last_error or "") from exc

    def trip(self, exc: BaseException) -> None:
        """Open the breaker after a failure seen by a caller that talks to the client itself."""
        self._backoff = min(self._max, self._backoff * 2 or self._first)
        self._open_until = self._clock() + self._backoff
        self.last_error = f"{type(exc).__name__}: {exc}"
        log.warning("redis unavailable (%s); retrying in %.1fs", self.last_error, self._backoff)

    async def _recovered(self) -> None:
        self._backoff = 0.0
        self.last_error = None
        log.warning("redis is back")
        for hook in self._recover_hooks:
            try:
                await hook()
            except Exception:
                log.exception("redis recovery hook failed")

    async def aclose(self) -> None:
        await self.client.aclose()
