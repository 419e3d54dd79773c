"""The memory pipeline on the real Redis and Postgres: stream, group, redelivery, reclaim."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT, store_settings

from checkpointing.memory_pipeline import (
    GROUP,
    LocalQueue,
    MemoryJob,
    MemoryProcessor,
    MemoryService,
    StreamConsumer,
    StreamKeys,
    open_fact_store,
    open_memory,
)
from checkpointing.memory_store import FactStore
from checkpointing.redis_guard import GuardedRedis
from checkpointing.stores import connect_redis, open_stores


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Any]:
    client = connect_redis(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def keys(redis: Any) -> AsyncIterator[StreamKeys]:
    """A prefix of this test's own; every key under it is deleted afterwards."""
    keys = StreamKeys(f"esquadra-test-{uuid.uuid4().hex[:10]}:")
    yield keys
    async for key in redis.scan_iter(match=f"{keys.prefix}*"):
        await redis.delete(key)


@pytest.fixture
async def store(postgres_url: str, tmp_path: Path) -> AsyncIterator[FactStore]:
    async with open_stores(store_settings(postgres_url, tmp_path)) as stores:
        yield await open_fact_store(stores)


def user() -> str:
    return f"5511{uuid.uuid4().int % 10**9:09d}"


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def texts(store: FactStore, user_id: str) -> list[str]:
    return [fact.text for fact in await store.live(user_id)]


async def test_remember_returns_at_once_and_a_consumer_stores_the_fact(
    redis: Any, keys: StreamKeys, store: FactStore
) -> None:
    service = MemoryService(store, LocalQueue(MemoryProcessor(store)), GuardedRedis(redis), keys)
    owner = user()
    started = time.perf_counter()
    await service.remember(owner, "t1", "tenho uma padaria em Campinas com 5 funcionarios")
    assert time.perf_counter() - started < 0.2  # one XADD, no extraction or embedding
    assert await redis.xlen(keys.stream) == 1
    assert await texts(store, owner) == []

    consumer = StreamConsumer(redis, MemoryProcessor(store), keys, block_ms=100)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        await eventually(
            lambda: _equals(
                texts(store, owner), ["Tem uma padaria em Campinas", "Tem 5 funcionários"]
            )
        )
        await eventually(lambda: _pending_is(redis, keys, 0))
    finally:
        stop.set()
        await task
    # A clean exit leaves the group without a stale consumer entry.
    assert await redis.xinfo_consumers(keys.stream, GROUP) == []


async def _equals(value: Awaitable[Any], expected: Any) -> bool:
    return (await value) == expected


async def _pending_is(redis: Any, keys: StreamKeys, count: int) -> bool:
    return (await redis.xpending(keys.stream, GROUP))["pending"] == count


async def test_a_redelivered_message_is_stored_once(
    redis: Any, keys: StreamKeys, store: FactStore
) -> None:
    owner = user()
    job = MemoryJob.new(owner, "t1", "sou mei e tenho uma barbearia")
    # The same entry twice on the stream (e.g. a producer retry) and handled twice.
    await redis.xadd(keys.stream, job.fields())
    await redis.xadd(keys.stream, job.fields())
    consumer = StreamConsumer(redis, MemoryProcessor(store), keys, block_ms=10)
    await consumer.ensure_group()
    entries = await consumer.read()
    assert len(entries) == 2
    assert (
        await consumer.handle(entries) == 2
    )  # two facts from the first copy, none from the second
    assert await consumer.handle(entries) == 0
    assert sorted(await texts(store, owner)) == ["Regime tributário: MEI", "Tem uma barbearia"]
    assert await _pending_is(redis, keys, 0)


async def test_a_consumer_that_dies_before_xack_is_taken_over(
    redis: Any, keys: StreamKeys, store: FactStore
) -> None:
    owner = user()
    service = MemoryService(store, LocalQueue(MemoryProcessor(store)), GuardedRedis(redis), keys)
    await service.remember(owner, "t1", "meu regime é Simples, anexo I")
    crashed = StreamConsumer(redis, MemoryProcessor(store), keys, name="crashed", block_ms=10)
    await crashed.ensure_group()
    assert len(await crashed.read()) == 1  # read, then the process died: no XACK
    assert await _pending_is(redis, keys, 1)

    rescuer = StreamConsumer(
        redis, MemoryProcessor(store), keys, name="rescuer", reclaim_after_s=0.3, block_ms=50
    )
    stop = asyncio.Event()
    task = asyncio.create_task(rescuer.run(stop))
    try:
        await eventually(
            lambda: _equals(texts(store, owner), ["Regime tributário: Simples Nacional, anexo I"])
        )
        await eventually(lambda: _pending_is(redis, keys, 0))
    finally:
        stop.set()
        await task


async def test_without_redis_the_same_consumer_code_runs_in_process(tmp_path: Path) -> None:
    owner = user()
    async with (
        open_stores(store_settings(None, tmp_path)) as stores,
        open_memory(stores) as memory,
    ):
        assert memory.redis is None
        await memory.remember(owner, "t1", "abro as 6 e fecho as 20")
        await eventually(lambda: _equals(texts(memory.store, owner), ["Horário: das 6h às 20h"]))
        assert await memory.recall(owner, "que horas abre?", 8) == ["Horário: das 6h às 20h"]


async def test_redis_down_falls_back_to_the_in_process_queue(tmp_path: Path) -> None:
    owner = user()
    dead = f"redis://127.0.0.1:{_closed_port()}/0"
    async with (
        open_stores(store_settings(None, tmp_path, redis_url=dead)) as stores,
        open_memory(stores) as memory,
    ):
        started = time.perf_counter()
        await memory.remember(owner, "t1", "tenho 3 funcionarios")
        assert time.perf_counter() - started < 0.6
        await eventually(lambda: _equals(texts(memory.store, owner), ["Tem 3 funcionários"]))


async def test_the_consumer_recreates_its_group_after_a_flush(
    redis: Any, keys: StreamKeys, store: FactStore
) -> None:
    owner = user()
    consumer = StreamConsumer(redis, MemoryProcessor(store), keys, block_ms=50)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        await eventually(lambda: _exists(redis, keys.stream))
        await redis.delete(keys.stream)  # what FLUSHALL does to this stream
        await asyncio.sleep(0.2)
        service = MemoryService(
            store, LocalQueue(MemoryProcessor(store)), GuardedRedis(redis), keys
        )
        await service.remember(owner, "t1", "minha padaria se chama Pão Quente")
        await eventually(lambda: _equals(texts(store, owner), ["Nome do negócio: Pão Quente"]))
    finally:
        stop.set()
        await task


async def _exists(redis: Any, key: str) -> bool:
    return bool(await redis.exists(key))


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_esquadra_worker_consumes_the_stream_and_stops_on_sigterm(
    redis: Any, keys: StreamKeys, store: FactStore, postgres_url: str, redis_url: str
) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": postgres_url,
        "REDIS_URL": redis_url,
        "ESQUADRA_REDIS_PREFIX": keys.prefix,
    }
    worker = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "esquadra"),
        "worker",
        "--log-level",
        "warning",
        cwd=REPO_ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        owner = user()
        service = MemoryService(
            store, LocalQueue(MemoryProcessor(store)), GuardedRedis(redis), keys
        )
        await service.remember(owner, "t1", "tenho uma confeitaria em Sorocaba")
        await eventually(
            lambda: _equals(texts(store, owner), ["Tem uma confeitaria em Sorocaba"]), 60
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(worker.communicate(), 20)
    assert worker.returncode == 0, output.decode()


def test_worker_needs_redis(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "esquadra"), "worker"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "REDIS_URL" in done.stderr


async def test_malformed_and_poison_entries_do_not_block_the_stream(
    redis: Any, keys: StreamKeys, store: FactStore
) -> None:
    await redis.xadd(keys.stream, {"text": "sem usuário"})  # malformed: dropped, acknowledged
    # Postgres refuses a NUL byte in text: this job fails on every delivery.
    poison = MemoryJob.new("bad\x00user", "t1", "tenho uma padaria")
    await redis.xadd(keys.stream, poison.fields())
    owner = user()
    good = MemoryJob.new(owner, "t1", "tenho 2 funcionarios")
    await redis.xadd(keys.stream, good.fields())
    consumer = StreamConsumer(
        redis, MemoryProcessor(store), keys, reclaim_after_s=0.05, block_ms=20
    )
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        await eventually(lambda: _equals(texts(store, owner), ["Tem 2 funcionários"]))
        await eventually(lambda: _equals(redis.xlen(keys.dead), 1))
        await eventually(lambda: _pending_is(redis, keys, 0))
    finally:
        stop.set()
        await task
    dead = await redis.xrange(keys.dead)
    assert dead[0][1][b"message_id"] == poison.message_id.encode()
