"""The memory pipeline: a user message in, facts extracted, embedded and stored — off the chat path.

`remember` puts a job on the Redis Stream `<prefix>memory:in` (or, without Redis or while it is
down, on an in-process queue) and returns. Consumers in the group `memory` read with XREADGROUP,
store, then XACK; a consumer that dies before its XACK leaves the entry pending, and XAUTOCLAIM
hands it to another consumer after `reclaim_after_s`. Storing is idempotent (one row per
message and kind), so a redelivery never duplicates a fact.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from checkpointing.memory_store import FactEmbedder, FactStore, StoredFact
from checkpointing.redis_guard import GuardedRedis, RedisUnavailable
from checkpointing.stores import Stores
from core.facts import extract_facts

log = logging.getLogger("esquadra.memory")

DEFAULT_PREFIX = "esquadra:"
GROUP = "memory"
STREAM_MAXLEN = 100_000  # approximate cap; far above any backlog a worker leaves behind
MAX_DELIVERIES = 5  # after this many failed attempts an entry goes to `<prefix>memory:dead`

Entry = tuple[str, dict[str, str]]


@dataclass(frozen=True)
class MemoryJob:
    """One user message to learn from; `message_id` makes a redelivery recognisable."""

    user_id: str
    thread_id: str
    text: str
    message_id: str
    said_at: datetime

    @classmethod
    def new(cls, user_id: str, thread_id: str, text: str) -> MemoryJob:
        return cls(user_id, thread_id, text, uuid.uuid4().hex, datetime.now(UTC))

    @property
    def message_hash(self) -> str:
        key = "\x1f".join((self.user_id, self.thread_id, self.message_id, self.text))
        return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]

    def fields(self) -> dict[str, str]:
        return {
            "user_id": self.user_id,
            "thread_id": self.thread_id,
            "text": self.text,
            "message_id": self.message_id,
            "said_at": self.said_at.isoformat(),
        }

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> MemoryJob:
        return cls(
            user_id=fields["user_id"],
            thread_id=fields["thread_id"],
            text=fields["text"],
            message_id=fields["message_id"],
            said_at=datetime.fromisoformat(fields["said_at"]),
        )


@dataclass(frozen=True)
class StreamKeys:
    prefix: str = DEFAULT_PREFIX

    @property
    def stream(self) -> str:
        return f"{self.prefix}memory:in"

    @property
    def dead(self) -> str:
        return f"{self.prefix}memory:dead"


class MemoryProcessor:
    """extract → embed (off the loop) → store; safe to run twice on the same job."""

    def __init__(self, store: FactStore) -> None:
        self.store = store

    async def process(self, job: MemoryJob) -> int:
        """How many new facts were stored (0 for most messages, and for a redelivery)."""
        facts = extract_facts(job.text)
        if not facts:
            return 0
        vectors = await self.store.embedder.embed([fact.text for fact in facts])
        return await self.store.add(
            job.user_id, job.thread_id, job.message_hash, job.said_at, facts, vectors
        )


class LocalQueue:
    """The in-process stand-in for the stream (embedded default, or Redis down)."""

    def __init__(self, processor: MemoryProcessor) -> None:
        self.processor = processor
        self.queue: asyncio.Queue[MemoryJob] = asyncio.Queue()

    def put(self, job: MemoryJob) -> None:
        self.queue.put_nowait(job)

    async def run(self) -> None:
        while True:
            job = await self.queue.get()
            try:
                await self.processor.process(job)
            except Exception:
                log.exception("memory: could not learn from a message of user %s", job.user_id)
            finally:
                self.queue.task_done()

    async def drain(self, within_s: float) -> None:
        """Wait for queued jobs at shutdown (bounded: a stuck store must not hang the exit)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.queue.join(), within_s)


class StreamConsumer:
    """One consumer of `<prefix>memory:in` in the group `memory`."""

    def __init__(
        self,
        redis: Any,
        processor: MemoryProcessor,
        keys: StreamKeys,
        *,
        name: str | None = None,
        reclaim_after_s: float = 60.0,
        block_ms: int = 1000,
        batch: int = 16,
    ) -> None:
        self.redis = redis
        self.processor = processor
        self.keys = keys
        self.name = name or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.reclaim_after_s = reclaim_after_s
        self.block_ms = block_ms
        self.batch = batch

    async def ensure_group(self) -> None:
        from redis.exceptions import ResponseError

        try:
            await self.redis.xgroup_create(self.keys.stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def read(self, block_ms: int | None = None) -> list[Entry]:
        """New entries for this consumer; they stay pending until `handle` acknowledges them."""
        reply = await self.redis.xreadgroup(
            GROUP,
            self.name,
            {self.keys.stream: ">"},
            count=self.batch,
            block=self.block_ms if block_ms is None else block_ms,
        )
        return [_entry(raw) for _, entries in reply or [] for raw in entries]

    async def reclaim(self) -> list[Entry]:
        """Entries another consumer read but did not acknowledge within `reclaim_after_s`."""
        claimed: list[Entry] = []
        start = "0-0"
        while True:
            reply = await self.redis.xautoclaim(
                self.keys.stream,
                GROUP,
                self.name,
                min_idle_time=int(self.reclaim_after_s * 1000),
                start_id=start,
                count=self.batch,
            )
            start, entries = _text(reply[0]), reply[1]
            # Entries trimmed from the stream come back as None: nothing left to process.
            claimed += [_entry(raw) for raw in entries if raw and raw[1] is not None]
            if start == "0-0" or not entries:
                return claimed

    async def handle(self, entries: list[Entry], *, redelivered: bool = False) -> int:
        """Process and acknowledge; a failed entry stays pending and is retried after reclaim."""
        stored = 0
        for entry_id, fields in entries:
            if redelivered and await self._delivered_too_often(entry_id, fields):
                continue
            try:
                job = MemoryJob.from_fields(fields)
            except (KeyError, ValueError):
                log.error("memory: dropping malformed stream entry %s: %r", entry_id, fields)
                await self.redis.xack(self.keys.stream, GROUP, entry_id)
                continue
            try:
                stored += await self.processor.process(job)
            except Exception:
                log.exception("memory: entry %s failed; it will be retried", entry_id)
                continue
            await self.redis.xack(self.keys.stream, GROUP, entry_id)
        return stored

    async def _delivered_too_often(self, entry_id: str, fields: dict[str, str]) -> bool:
        pending = await self.redis.xpending_range(
            self.keys.stream, GROUP, min=entry_id, max=entry_id, count=1
        )
        if not pending or pending[0]["times_delivered"] <= MAX_DELIVERIES:
            return False
        log.error(
            "memory: entry %s failed %d times; moved to %s",
            entry_id,
            MAX_DELIVERIES,
            self.keys.dead,
        )
        await self.redis.xadd(self.keys.dead, {**fields, "entry_id": entry_id})
        await self.redis.xack(self.keys.stream, GROUP, entry_id)
        return True

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Consume until `stop` is set (or the task is cancelled); survives Redis outages."""
        stop = stop or asyncio.Event()
        from redis.exceptions import RedisError, ResponseError

        backoff = 0.5
        next_reclaim = 0.0
        ready = False
        while not stop.is_set():
            try:
                if not ready:
                    await self.ensure_group()
                    ready = True
                if time.monotonic() >= next_reclaim:
                    await self.handle(await self.reclaim(), redelivered=True)
                    next_reclaim = time.monotonic() + max(0.1, self.reclaim_after_s / 2)
                await self.handle(await self.read())
                backoff = 0.5
            except ResponseError as exc:
                # The stream was deleted under us (FLUSHALL, TTL policy): recreate it and go on.
                if "NOGROUP" in str(exc) or "UNBLOCKED" in str(exc):
                    ready = False
                    continue
                log.exception("memory: unexpected Redis reply; retrying in %.1fs", backoff)
            except (RedisError, OSError) as exc:
                log.warning("memory: Redis unavailable (%s); retrying in %.1fs", exc, backoff)
            except Exception:
                # A background task that dies is memory silently switched off: log and go on.
                log.exception("memory: consumer error; retrying in %.1fs", backoff)
            else:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff)
            backoff = min(backoff * 2, 30.0)
            ready = False
        await self._leave()

    async def _leave(self) -> None:
        """Drop this consumer from the group when it holds nothing pending (tidy XINFO)."""
        with contextlib.suppress(Exception):
            pending = await self.redis.xpending_range(
                self.keys.stream, GROUP, min="-", max="+", count=1, consumername=self.name
            )
            if not pending:
                await self.redis.xgroup_delconsumer(self.keys.stream, GROUP, self.name)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _entry(raw: Any) -> Entry:
    entry_id, fields = raw
    return _text(entry_id), {_text(k): _text(v) for k, v in (fields or {}).items()}


class MemoryService:
    """The chat's `MemoryHook` (recall, remember) and what the memory API reads and deletes."""

    def __init__(
        self,
        store: FactStore,
        local: LocalQueue,
        redis: GuardedRedis | None = None,
        keys: StreamKeys | None = None,
        enabled: bool = True,
    ) -> None:
        self.store = store
        self.local = local
        self.redis = redis
        self.keys = keys or StreamKeys()
        self.enabled = enabled

    async def recall(self, user_id: str, text: str, limit: int) -> list[str]:
        """Fact texts for the prompt; a memory failure costs the turn its facts, not its reply."""
        try:
            return [fact.text for fact in await self.store.recall(user_id, text, limit)]
        except Exception:
            log.exception("memory: recall failed for user %s; answering without facts", user_id)
            return []

    async def remember(self, user_id: str, thread_id: str, text: str) -> None:
        """Queue the message for extraction and embedding; never waits for either."""
        if not self.enabled:
            return
        job = MemoryJob.new(user_id, thread_id, text)
        if self.redis is not None:
            try:
                await self.redis.call(
                    lambda client: client.xadd(
                        self.keys.stream, job.fields(), maxlen=STREAM_MAXLEN, approximate=True
                    )
                )
                return
            except RedisUnavailable:  # down or slow (the breaker is open): learn in-process
                pass
        self.local.put(job)

    async def facts(self, user_id: str) -> list[StoredFact]:
        return await self.store.live(user_id)

    async def forget(self, user_id: str, fact_id: int) -> bool:
        return await self.store.delete(user_id, fact_id)

    async def merge_user(self, source: str, target: str) -> int:
        """Call after identity links two users: `source`'s facts now belong to `target`."""
        return await self.store.merge_user(source, target)


@asynccontextmanager
async def open_memory(
    stores: Stores, *, enabled: bool = True, consume: bool | None = None
) -> AsyncIterator[MemoryService]:
    """The memory service with its background consumers (the in-process worker).

    `consume=False` (or `ESQUADRA_MEMORY_WORKER=external`) leaves the Redis stream to
    `esquadra worker`; the in-process queue (used while Redis is down) is always drained here.
    """
    settings = stores.settings
    if consume is None:
        consume = settings.memory_worker != "external"
    store = await open_fact_store(stores)
    processor = MemoryProcessor(store)
    local = LocalQueue(processor)
    keys = StreamKeys(settings.redis_prefix)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(local.run(), name="memory-local")]
    if stores.redis is not None and consume and enabled:
        consumer = StreamConsumer(
            stores.redis.client, processor, keys, reclaim_after_s=settings.memory_reclaim_s
        )
        tasks.append(asyncio.create_task(consumer.run(stop), name="memory-stream"))
    try:
        yield MemoryService(store, local, stores.redis, keys, enabled=enabled)
    finally:
        stop.set()
        await local.drain(within_s=5)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def open_fact_store(stores: Stores, embedder: FactEmbedder | None = None) -> FactStore:
    """The facts table on the service's database, following its embedding column type."""
    store = FactStore(stores.db, embedder or FactEmbedder())
    await store.detect_vectors()
    return store


async def run_worker(stores: Stores) -> int:
    """`esquadra worker`: consume the stream until SIGTERM or SIGINT, then leave cleanly."""
    import signal

    assert stores.redis is not None, "the worker reads the Redis stream"
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    consumer = StreamConsumer(
        stores.redis.client,
        MemoryProcessor(await open_fact_store(stores)),
        StreamKeys(stores.settings.redis_prefix),
        reclaim_after_s=stores.settings.memory_reclaim_s,
    )
    log.info("memory worker %s consuming %s", consumer.name, consumer.keys.stream)
    await consumer.run(stop)
    return 0
