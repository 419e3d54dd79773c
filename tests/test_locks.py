"""Thread locks (Redis and in-process), fencing at the checkpoint write, burst merging."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from conftest import store_settings
from langchain_core.messages import AnyMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict

from checkpointing import open_stores
from checkpointing.fenced import (
    FENCE_KEY,
    FencedSaver,
    FenceRejected,
    LocalFences,
    PostgresFences,
    fences_for,
)
from checkpointing.locks import (
    Busy,
    FallbackThreadLocks,
    LocalThreadLocks,
    RedisThreadLocks,
    ThreadLocks,
)
from checkpointing.redis_guard import GuardedRedis


async def redis_locks(url: str) -> tuple[RedisThreadLocks, str]:
    from redis.asyncio import Redis

    prefix = f"esquadra-test-{uuid.uuid4().hex[:8]}:"
    return RedisThreadLocks(Redis.from_url(url), prefix), prefix


async def drop_keys(url: str, prefix: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture(params=["local", "redis"])
async def locks(request: pytest.FixtureRequest) -> AsyncIterator[ThreadLocks]:
    if request.param == "local":
        yield LocalThreadLocks()
        return
    url = request.getfixturevalue("redis_url")
    locks, prefix = await redis_locks(url)
    try:
        yield locks
    finally:
        await locks.aclose()
        await drop_keys(url, prefix)


async def queued(locks: ThreadLocks, thread_id: str) -> int:
    """How many waiters the lock knows of on `thread_id`."""
    if isinstance(locks, RedisThreadLocks):
        return int(await locks.client.zcard(locks.key(thread_id, "queue")))
    state = locks._threads.get(thread_id)  # type: ignore[attr-defined]
    return len(state.waiters) if state else 0


async def until_queued(locks: ThreadLocks, thread_id: str, n: int) -> None:
    async with asyncio.timeout(10):
        while await queued(locks, thread_id) < n:  # noqa: ASYNC110 - polling Redis, no event
            await asyncio.sleep(0.01)


async def test_waiters_are_served_in_arrival_order(locks: ThreadLocks) -> None:
    """Arrival is when the message came (the stamp taken at the call, as the route does), not
    when the waiter got to Redis: a connection opened on the way costs it no place."""
    first = await locks.acquire("t", ttl_s=10, mode="wait")
    served: list[int] = []

    async def waiter(n: int, arrived_at: float) -> None:
        lease = await locks.acquire("t", ttl_s=10, mode="wait", arrived_at=arrived_at)
        served.append(n)
        await asyncio.sleep(0.005)
        await lease.release()

    tasks = []
    for n in range(20):
        tasks.append(asyncio.create_task(waiter(n, time.time())))  # arrival order = n
        await asyncio.sleep(0.005)
    # Every waiter reached the queue before the lock moves: order is only owed among those the
    # lock knows of (what was granted stays granted).
    await until_queued(locks, "t", 20)
    await first.release()
    await asyncio.gather(*tasks)
    assert served == list(range(20))


async def test_a_waiter_slow_to_reach_redis_keeps_its_place(redis_url: str) -> None:
    """The flaky-CI case made certain: the first waiter opens its connection slowly (another
    worker, a cold pool) and reaches the queue after three later arrivals; it is served first."""
    from redis.asyncio import Connection, ConnectionPool, Redis

    class SlowToOpen(Connection):
        async def connect(self) -> None:
            await asyncio.sleep(0.3)
            await super().connect()

    locks, prefix = await redis_locks(redis_url)
    pool = ConnectionPool.from_url(redis_url, connection_class=SlowToOpen)
    slow = RedisThreadLocks(Redis.from_pool(pool), prefix)  # a second worker on the same keys
    served: list[int] = []

    async def waiter(n: int, via: RedisThreadLocks, arrived_at: float) -> None:
        lease = await via.acquire("t", ttl_s=10, mode="wait", arrived_at=arrived_at)
        served.append(n)
        await lease.release()

    try:
        holder = await locks.acquire("t", ttl_s=10, mode="wait")
        tasks = [asyncio.create_task(waiter(0, slow, time.time()))]
        for n in range(1, 4):
            await asyncio.sleep(0.005)
            tasks.append(asyncio.create_task(waiter(n, locks, time.time())))
        await until_queued(locks, "t", 3)
        assert await locks.client.zscore(locks.key("t", "queue"), "0" * 15 + "1") is None
        await until_queued(locks, "t", 4)  # the slow one arrives last, with the latest ticket
        await holder.release()
        await asyncio.wait_for(asyncio.gather(*tasks), 5)
        assert served == [0, 1, 2, 3]
    finally:
        await locks.aclose()
        await slow.aclose()
        await drop_keys(redis_url, prefix)


async def test_a_late_arrival_at_a_free_lock_goes_before_later_waiters(redis_url: str) -> None:
    """Between a release and the next waiter's grant the lock is free: an earlier message that
    only now reached Redis takes it in its arrival round trip, ahead of the later waiter."""
    locks, prefix = await redis_locks(redis_url)
    try:
        later = time.time()
        # A live waiter of another worker that arrived at `later`, not granted yet.
        await locks.client.set(locks.key("t", "alive:x"), 1, px=10_000)
        await locks.client.zadd(locks.key("t", "queue"), {"x": round(later * 1_000_000)})
        sent = count_commands(locks.client)
        lease = await asyncio.wait_for(
            locks.acquire("t", ttl_s=10, mode="wait", arrived_at=later - 0.05), 3
        )
        assert sent == ["EVALSHA"]
        assert await locks.client.zrange(locks.key("t", "queue"), 0, -1) == [b"x"]
        await lease.release()
    finally:
        await locks.aclose()
        await drop_keys(redis_url, prefix)


async def test_tokens_grow_with_every_grant(locks: ThreadLocks) -> None:
    tokens = []
    for _ in range(3):
        lease = await locks.acquire("t", ttl_s=10, mode="wait")
        tokens.append(lease.token)
        await lease.release()
    assert tokens == sorted(tokens) and len(set(tokens)) == 3


async def test_try_mode_is_busy_while_held(locks: ThreadLocks) -> None:
    lease = await locks.acquire("t", ttl_s=10, mode="try")
    with pytest.raises(Busy):
        await locks.acquire("t", ttl_s=10, mode="try")
    await lease.release()
    await (await locks.acquire("t", ttl_s=10, mode="try")).release()


async def test_interrupt_mode_signals_the_holder_then_waits(locks: ThreadLocks) -> None:
    holder = await locks.acquire("t", ttl_s=10, mode="wait")
    newer = asyncio.create_task(locks.acquire("t", ttl_s=10, mode="interrupt"))
    await asyncio.wait_for(holder.interrupted.wait(), 3)
    assert not newer.done()
    await holder.release()
    lease = await asyncio.wait_for(newer, 3)
    assert lease.token > holder.token
    await lease.release()


async def test_a_cancelled_waiter_does_not_block_the_queue(locks: ThreadLocks) -> None:
    holder = await locks.acquire("t", ttl_s=10, mode="wait")
    gone = asyncio.create_task(locks.acquire("t", ttl_s=10, mode="wait"))
    await asyncio.sleep(0.05)
    later = asyncio.create_task(locks.acquire("t", ttl_s=10, mode="wait"))
    await asyncio.sleep(0.05)
    gone.cancel()
    await holder.release()
    await (await asyncio.wait_for(later, 3)).release()


async def test_bursts_merge_in_arrival_order(locks: ThreadLocks) -> None:
    assert await locks.join_burst("t", "a", "oi", 30) == "a"
    collected = asyncio.create_task(locks.collect_burst("t", "a", 0.3, 2))
    await asyncio.sleep(0.1)
    assert await locks.join_burst("t", "b", "preciso de ajuda", 30) == "a"
    await asyncio.sleep(0.1)
    assert await locks.join_burst("t", "c", "com o caixa", 30) == "a"
    started = time.monotonic()
    assert await collected == ["oi", "preciso de ajuda", "com o caixa"]
    assert time.monotonic() - started >= 0.25  # the window counts from the last message
    assert await locks.join_burst("t", "d", "depois", 30) == "d"  # a new burst


async def test_redis_lock_of_a_dead_holder_expires(redis_url: str) -> None:
    locks, prefix = await redis_locks(redis_url)
    other, _ = await redis_locks(redis_url)
    other.prefix = prefix  # a second worker on the same keys
    try:
        stalled = await locks.acquire("t", ttl_s=0.3, mode="wait")
        # The loop blocks (a GC pause, a stuck worker): no renewal runs, the lock expires.
        time.sleep(0.5)  # noqa: ASYNC251 - blocking the loop is the point
        lease = await asyncio.wait_for(other.acquire("t", ttl_s=10, mode="wait"), 3)
        assert lease.token > stalled.token
        await asyncio.sleep(0.05)
        await asyncio.wait_for(stalled.lost.wait(), 3)  # its renewal finds the lock gone
        await stalled.release()  # must not release the new holder's lock
        with pytest.raises(Busy):
            await locks.acquire("t", ttl_s=10, mode="try")
        await lease.release()
    finally:
        await locks.aclose()
        await other.aclose()
        await drop_keys(redis_url, prefix)


async def test_a_dead_waiter_is_dropped_from_the_head_of_the_queue(redis_url: str) -> None:
    locks, prefix = await redis_locks(redis_url)
    try:
        holder = await locks.acquire("t", ttl_s=10, mode="wait")
        # A waiter whose process died: a ticket in the queue and no "alive" key.
        await locks.client.zadd(locks.key("t", "queue"), {"0": 0})
        waiter = asyncio.create_task(locks.acquire("t", ttl_s=10, mode="wait"))
        await asyncio.sleep(0.05)
        await holder.release()
        await (await asyncio.wait_for(waiter, 3)).release()
    finally:
        await locks.aclose()
        await drop_keys(redis_url, prefix)


async def test_redis_down_falls_back_to_in_process_locks() -> None:
    from redis.asyncio import Redis

    dead = RedisThreadLocks(Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2))
    locks = FallbackThreadLocks(dead, GuardedRedis(dead.client, first_backoff_s=60))
    lease = await locks.acquire("t", ttl_s=10, mode="wait")
    assert locks.degraded
    with pytest.raises(Busy):
        await locks.acquire("t", ttl_s=10, mode="try")
    await lease.release()
    await locks.aclose()


async def test_fallback_recovers_when_redis_returns(redis_url: str) -> None:
    locks, prefix = await redis_locks(redis_url)
    now = [0.0]
    breaker = GuardedRedis(locks.client, first_backoff_s=5, clock=lambda: now[0])
    fallback = FallbackThreadLocks(locks, breaker)
    breaker.trip(ConnectionError("down"))  # as after a failure at t=0
    try:
        lease = await fallback.acquire("t", ttl_s=10, mode="wait")
        assert not await locks.client.exists(locks.key("t", "lock"))  # in-process while down
        await lease.release()
        now[0] = 6.0
        lease = await fallback.acquire("t", ttl_s=10, mode="wait")
        assert await locks.client.exists(locks.key("t", "lock"))  # back on Redis
        await lease.release()
    finally:
        await fallback.aclose()
        await drop_keys(redis_url, prefix)


def count_commands(client: Any) -> list[str]:
    """The names of the commands `client` sends from now on (pipelines count as PIPELINE)."""
    sent: list[str] = []
    execute, pipeline = client.execute_command, client.pipeline

    async def counted(*args: Any, **options: Any) -> Any:
        sent.append(str(args[0]).upper())
        return await execute(*args, **options)

    def counted_pipeline(*args: Any, **kwargs: Any) -> Any:
        sent.append("PIPELINE")
        return pipeline(*args, **kwargs)

    client.execute_command, client.pipeline = counted, counted_pipeline
    return sent


@pytest.mark.parametrize("mode", ["wait", "interrupt"])
async def test_an_uncontended_turn_takes_one_round_trip_to_acquire_and_one_to_release(
    redis_url: str, mode: str
) -> None:
    locks, prefix = await redis_locks(redis_url)
    try:
        await (await locks.acquire("t", ttl_s=10, mode="wait")).release()  # scripts loaded
        sent = count_commands(locks.client)
        lease = await locks.acquire("t", ttl_s=10, mode=mode)  # type: ignore[arg-type]
        assert sent == ["EVALSHA"]
        assert not lease.interrupted.is_set()
        assert not await locks.client.exists(locks.key("t", "queue"))  # never queued
        with pytest.raises(Busy):
            await locks.acquire("t", ttl_s=10, mode="try")
        sent.clear()
        await lease.release()
        assert sent == ["EVALSHA"]
        assert not await locks.client.exists(locks.key("t", "lock"))
    finally:
        await locks.aclose()
        await drop_keys(redis_url, prefix)


async def test_an_arrival_behind_a_live_waiter_queues_though_the_lock_is_free(
    redis_url: str,
) -> None:
    """Between a release and the next waiter's grant the lock is free: no jumping the queue."""
    locks, prefix = await redis_locks(redis_url)
    try:
        # A waiter of another worker, first in line and alive, not granted yet.
        await locks.client.set(locks.key("t", "alive:0"), 1, px=10_000)
        await locks.client.zadd(locks.key("t", "queue"), {"0": 0})
        later = asyncio.create_task(locks.acquire("t", ttl_s=10, mode="wait"))
        await asyncio.sleep(0.2)
        assert not later.done()
        assert not await locks.client.exists(locks.key("t", "lock"))
        await locks.client.delete(locks.key("t", "alive:0"))  # that worker died
        lease = await asyncio.wait_for(later, 3)
        await lease.release()
        assert not await locks.client.exists(locks.key("t", "queue"))
    finally:
        await locks.aclose()
        await drop_keys(redis_url, prefix)


async def test_contended_arrivals_queue_in_order_and_fast_path_resumes_when_idle(
    redis_url: str,
) -> None:
    locks, prefix = await redis_locks(redis_url)
    try:
        holder = await locks.acquire("t", ttl_s=10, mode="wait")
        served: list[tuple[int, int]] = []

        async def waiter(n: int) -> None:
            lease = await locks.acquire("t", ttl_s=10, mode="wait")
            served.append((n, lease.token))
            await lease.release()

        tasks = []
        for n in range(5):
            tasks.append(asyncio.create_task(waiter(n)))
            await asyncio.sleep(0.02)
        assert await locks.client.zcard(locks.key("t", "queue")) == 5
        await holder.release()
        await asyncio.wait_for(asyncio.gather(*tasks), 5)
        assert [n for n, _ in served] == list(range(5))
        tokens = [holder.token] + [token for _, token in served]
        assert tokens == sorted(tokens) and len(set(tokens)) == 6
        assert not await locks.client.exists(locks.key("t", "queue"))
        sent = count_commands(locks.client)
        await (await locks.acquire("t", ttl_s=10, mode="wait")).release()
        assert sent == ["EVALSHA", "EVALSHA"]
    finally:
        await locks.aclose()
        await drop_keys(redis_url, prefix)


async def test_a_lock_granted_as_the_arrival_failed_is_dropped(redis_url: str) -> None:
    from redis.exceptions import TimeoutError as RedisTimeoutError

    locks, prefix = await redis_locks(redis_url)
    arrive = locks._enqueue
    lock = locks.key("t", "lock")

    async def lost_reply(keys: list[str], args: list[Any]) -> Any:
        await arrive(keys, args)  # granted on the server ...
        raise RedisTimeoutError("Timeout reading from socket")  # ... but we never heard it

    async def stuck_reply(keys: list[str], args: list[Any]) -> Any:
        reply = await arrive(keys, args)
        await asyncio.sleep(30)
        return reply

    try:
        locks._enqueue = lost_reply
        with pytest.raises(RedisTimeoutError):
            await locks.acquire("t", ttl_s=10, mode="wait")
        for _ in range(100):  # dropped in the background: a dead Redis must not slow the caller
            if not await locks.client.exists(lock):
                break
            await asyncio.sleep(0.01)
        assert not await locks.client.exists(lock)

        locks._enqueue = stuck_reply
        cancelled = asyncio.create_task(locks.acquire("t", ttl_s=10, mode="wait"))
        await asyncio.sleep(0.1)
        assert await locks.client.exists(lock)
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        assert not await locks.client.exists(lock)  # dropped before the cancel completed
    finally:
        await locks.aclose()
        await drop_keys(redis_url, prefix)


async def test_a_held_redis_lock_is_renewed_past_its_ttl(redis_url: str) -> None:
    locks, prefix = await redis_locks(redis_url)
    try:
        lease = await locks.acquire("t", ttl_s=0.3, mode="wait")
        await asyncio.sleep(0.8)  # the loop runs: renewals every ttl/3
        assert not lease.lost.is_set()
        with pytest.raises(Busy):
            await locks.acquire("t", ttl_s=10, mode="try")
        await lease.release()
        await asyncio.sleep(0.3)
        assert not await locks.client.exists(locks.key("t", "lock"))  # no renewal after release
    finally:
        await locks.aclose()
        await drop_keys(redis_url, prefix)


# --------------------------------------------------------------------------- fencing


class Notes(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


def notes_graph(checkpointer: Any) -> Any:
    async def echo(state: Notes) -> dict[str, Any]:
        return {}

    builder = StateGraph(Notes)
    builder.add_node("echo", echo)
    builder.add_edge(START, "echo")
    builder.add_edge("echo", END)
    return builder.compile(checkpointer=checkpointer)


def fenced_config(thread_id: str, token: int) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id, FENCE_KEY: token}}


async def assert_stale_holder_cannot_write(saver: Any, fences: Any) -> None:
    graph = notes_graph(FencedSaver(saver, fences))
    old = await fences.advance("t", 1)
    await graph.ainvoke({"messages": [HumanMessage("do dono antigo")]}, fenced_config("t", old))
    new = await fences.advance("t", old + 1)  # another worker took the thread
    await graph.ainvoke({"messages": [HumanMessage("do dono novo")]}, fenced_config("t", new))
    with pytest.raises(FenceRejected):
        await graph.ainvoke({"messages": [HumanMessage("atrasada")]}, fenced_config("t", old))
    state = await notes_graph(saver).aget_state({"configurable": {"thread_id": "t"}})
    assert [m.content for m in state.values["messages"]] == ["do dono antigo", "do dono novo"]
    # Unfenced writers (CLI, maintenance) are not affected.
    await graph.ainvoke(
        {"messages": [HumanMessage("sem cerca")]}, {"configurable": {"thread_id": "t"}}
    )


async def test_fence_rejects_a_stale_writer_in_memory() -> None:
    await assert_stale_holder_cannot_write(InMemorySaver(), LocalFences())


async def test_fence_rejects_a_stale_writer_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    async with open_stores(store_settings(postgres_url, tmp_path)) as stores:
        fences = fences_for(stores.db)
        assert isinstance(fences, PostgresFences)
        await assert_stale_holder_cannot_write(stores.checkpointer, fences)


async def test_fence_survives_a_flushed_redis_counter() -> None:
    fences = LocalFences()
    assert await fences.advance("t", 41) == 41
    assert await fences.advance("t", 1) == 42  # Redis restarted its INCR: still newer


async def test_holder_whose_lock_expired_cannot_write_its_checkpoint(
    redis_url: str, postgres_url: str, tmp_path: Path
) -> None:
    """The whole chain: Redis lock with a tiny TTL, a stall, a takeover, a refused write."""
    locks, prefix = await redis_locks(redis_url)
    other, _ = await redis_locks(redis_url)
    other.prefix = prefix
    async with open_stores(store_settings(postgres_url, tmp_path)) as stores:
        saver = stores.checkpointer
        fences = PostgresFences(stores.db)  # type: ignore[arg-type]
        graph = notes_graph(FencedSaver(saver, fences))
        try:
            stalled = await locks.acquire("fence-1", ttl_s=0.3, mode="wait")
            stale = await fences.advance("fence-1", stalled.token)
            # Stalled past the lock's TTL (the loop is blocked): the lock expired.
            time.sleep(0.5)  # noqa: ASYNC251
            lease = await other.acquire("fence-1", ttl_s=10, mode="wait")
            fresh = await fences.advance("fence-1", lease.token)
            await graph.ainvoke(
                {"messages": [HumanMessage("novo dono")]}, fenced_config("fence-1", fresh)
            )
            with pytest.raises(FenceRejected):
                await graph.ainvoke(
                    {"messages": [HumanMessage("dono parado")]}, fenced_config("fence-1", stale)
                )
            await lease.release()
            await stalled.release()
            state = await notes_graph(saver).aget_state({"configurable": {"thread_id": "fence-1"}})
            assert [m.content for m in state.values["messages"]] == ["novo dono"]
        finally:
            await locks.aclose()
            await other.aclose()
            await drop_keys(redis_url, prefix)
