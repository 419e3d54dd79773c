"""A token bucket per sending phone number: Meta throttles each business number, and a burst
of replies must queue here rather than come back as 429s."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class TokenBucket:
    """`rate_per_s` sends per second on average, bursts of up to `burst`; `take` waits."""

    def __init__(
        self,
        rate_per_s: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate_per_s
        self.burst = burst if burst is not None else max(1.0, rate_per_s)
        self._clock = clock
        self._tokens = self.burst
        self._at = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now

    def wait_s(self) -> float:
        """How long the next `take` would wait now (0: a token is there)."""
        self._refill()
        return max(0.0, (1 - self._tokens) / self.rate)

    async def take(self) -> None:
        """Take one token, waiting for it; callers are served in order (the lock is fair)."""
        async with self._lock:
            wait = self.wait_s()
            if wait > 0:
                await asyncio.sleep(wait)
                self._refill()
            self._tokens -= 1


class PerKeyBuckets:
    """One bucket per key (the phone number id), made on first use."""

    def __init__(self, rate_per_s: float) -> None:
        self.rate = rate_per_s
        self._buckets: dict[str, TokenBucket] = {}

    def __getitem__(self, key: str) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rate)
        return bucket
