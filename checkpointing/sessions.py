"""The hot session: what the next turn needs, kept warm in Redis (or in-process), never the truth.

Two keys, both read by `ChatService.prepare` on every turn: per (channel, sender) the canonical
user id, and per user the active thread and the channel links. The thread's messages are not
copied here: the graph reads them from its checkpoint. Every key lives under the Redis prefix
and expires `sessions.cache.ttl_hours` after the last activity (reads renew it with GETEX).

The identity tables are the truth: a missing key (expired, flushed, Redis restarted) is rebuilt
from them on the next read. While Redis is down every method answers
from the durable stores and writes nothing; keys whose truth changed meanwhile are deleted when
Redis comes back, so a stale active thread cannot resurface.
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any, Protocol

from checkpointing.identity import IdentityStore, Link, UserView
from checkpointing.redis_guard import GuardedRedis, RedisUnavailable

log = logging.getLogger("esquadra.sessions")


class HotStore(Protocol):
    """String keys with a TTL: Redis, or a dict in this process."""

    async def get(self, key: str, ttl_s: float) -> str | None:
        """The value, renewing its TTL; None when missing. May raise `RedisUnavailable`."""
        ...

    async def set(self, key: str, value: str, ttl_s: float) -> None: ...

    async def delete(self, keys: list[str]) -> None: ...


class RedisHot:
    def __init__(self, redis: GuardedRedis) -> None:
        self.redis = redis

    async def get(self, key: str, ttl_s: float) -> str | None:
        raw = await self.redis.call(lambda r: r.getex(key, ex=_seconds(ttl_s)))
        return raw.decode() if isinstance(raw, bytes) else raw

    async def set(self, key: str, value: str, ttl_s: float) -> None:
        await self.redis.call(lambda r: r.set(key, value, ex=_seconds(ttl_s)))

    async def delete(self, keys: list[str]) -> None:
        if keys:
            await self.redis.call(lambda r: r.delete(*keys))


class LocalHot:
    """The embedded default: an LRU dict with expiry. Per process, so one worker per data dir."""

    def __init__(self, max_entries: int = 50_000) -> None:
        self._items: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._max = max_entries

    async def get(self, key: str, ttl_s: float) -> str | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[1] <= time.monotonic():
            del self._items[key]
            return None
        self._items[key] = (item[0], time.monotonic() + ttl_s)
        self._items.move_to_end(key)
        return item[0]

    async def set(self, key: str, value: str, ttl_s: float) -> None:
        self._items[key] = (value, time.monotonic() + ttl_s)
        self._items.move_to_end(key)
        while len(self._items) > self._max:
            self._items.popitem(last=False)

    async def delete(self, keys: list[str]) -> None:
        for key in keys:
            self._items.pop(key, None)


class HotSessions:
    """Reads through the hot store to the durable stores; see the module docstring."""

    def __init__(
        self,
        store: HotStore,
        prefix: str,
        *,
        ttl_hours: float,
        identity: IdentityStore,
    ) -> None:
        self.store = store
        self.prefix = prefix
        self.ttl_s = ttl_hours * 3600
        self.identity = identity
        self._stale: set[str] = set()  # keys whose truth changed while Redis was down

    # -- keys -----------------------------------------------------------------------------
    def user_key(self, user_id: str) -> str:
        return f"{self.prefix}session:user:{user_id}"

    def sender_key(self, channel: str, sender_id: str) -> str:
        return f"{self.prefix}session:sender:{channel}:{sender_id}"

    # -- senders --------------------------------------------------------------------------
    async def sender(self, channel: str, sender_id: str) -> str | None:
        """The cached canonical user of this sender (None: ask the identity store)."""
        return await self._get(self.sender_key(channel, sender_id))

    async def remember_sender(self, channel: str, sender_id: str, user_id: str) -> None:
        await self._set(self.sender_key(channel, sender_id), user_id)

    # -- users ----------------------------------------------------------------------------
    async def user(self, user_id: str) -> UserView | None:
        """Links and active thread, hot or rebuilt from the identity tables."""
        key = self.user_key(user_id)
        raw = await self._get(key)
        if raw is not None:
            data = json.loads(raw)
            links = [Link(**link) for link in data["links"]]
            return UserView(data["user_id"], links, data["active_thread"])
        view = await self.identity.user(user_id)
        if view is not None and view.user_id == user_id:
            await self._put_user(view)
        return view

    async def set_active_thread(self, user_id: str, thread_id: str) -> None:
        """Write through: the identity table first (truth), then the hot copy."""
        view = await self.user(user_id)
        if view is not None and view.active_thread == thread_id:
            return
        await self.identity.set_active_thread(user_id, thread_id)
        if view is not None:
            await self._put_user(UserView(view.user_id, view.links, thread_id))

    async def claim_active_thread(self, user_id: str, thread_id: str) -> str:
        """The user's active thread, or `thread_id` made it if there is none (see the store)."""
        view = await self.user(user_id)
        if view is not None and view.active_thread is not None:
            return view.active_thread
        winner = await self.identity.claim_active_thread(user_id, thread_id)
        if view is not None:
            await self._put_user(UserView(view.user_id, view.links, winner))
        return winner

    async def forget(self, user_ids: Iterable[str], links: Iterable[Link]) -> None:
        """Drop hot copies after a link or merge; the next read rebuilds them."""
        keys = [self.user_key(u) for u in user_ids]
        keys += [self.sender_key(link.channel, link.sender_id) for link in links]
        try:
            await self.store.delete(keys)
        except RedisUnavailable:
            self._stale.update(keys)

    # -- internals ------------------------------------------------------------------------
    async def _put_user(self, view: UserView) -> None:
        data = {
            "user_id": view.user_id,
            "links": [link.as_dict() for link in view.links],
            "active_thread": view.active_thread,
        }
        await self._set(self.user_key(view.user_id), _dumps(data))

    async def _get(self, key: str) -> str | None:
        try:
            return await self.store.get(key, self.ttl_s)
        except RedisUnavailable:
            return None

    async def _set(self, key: str, value: str) -> None:
        try:
            await self.store.set(key, value, self.ttl_s)
        except RedisUnavailable:
            self._stale.add(key)

    async def drop_stale(self) -> None:
        """Called when Redis is back: delete keys that may disagree with the durable stores."""
        keys, self._stale = sorted(self._stale), set()
        if keys:
            log.warning("redis back: dropping %d hot keys written during the outage", len(keys))
            try:
                await self.store.delete(keys)
            except RedisUnavailable:
                self._stale.update(keys)  # down again: try on the next recovery


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _seconds(ttl_s: float) -> int:
    return max(1, round(ttl_s))
