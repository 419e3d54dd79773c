"""The hot session and the pieces under it (the Redis breaker, the in-process store, link
codes), and the `sessions.prompt` windows: how much of a thread the model and the router see."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import redis
from conftest import chat, copy_squad, memory_settings
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from litestar.testing import AsyncTestClient
from redis.exceptions import ConnectionError as RedisConnectionError

from checkpointing.link_codes import LinkCodes, TooManyAttempts
from checkpointing.redis_guard import GuardedRedis, RedisUnavailable
from checkpointing.sessions import LocalHot
from checkpointing.stores import connect_redis
from graphs.compiler import build_squad
from graphs.loader import load_spec
from nodes.routing import HistoryTurn
from server.app import create_app


class FlakyClient:
    """Stands in for redis.asyncio.Redis: fails while `down` is set, counts real attempts."""

    def __init__(self) -> None:
        self.down = False
        self.attempts = 0

    async def ping(self) -> bool:
        return await self.get("ping")

    async def get(self, key: str) -> Any:
        self.attempts += 1
        if self.down:
            raise RedisConnectionError("Connection refused")
        return key


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_breaker_fails_fast_while_open_and_recovers_by_itself() -> None:
    client, clock = FlakyClient(), Clock()
    guard = GuardedRedis(client, first_backoff_s=0.5, max_backoff_s=2, clock=clock)
    recovered: list[bool] = []

    async def on_recovery() -> None:
        recovered.append(True)

    guard.on_recovery(on_recovery)
    assert await guard.call(lambda r: r.get("k")) == "k"

    client.down = True
    for _ in range(3):
        with pytest.raises(RedisUnavailable):
            await guard.call(lambda r: r.get("k"))
    assert client.attempts == 2  # one real try, then the open breaker answers at once
    assert not guard.available and "Connection refused" in (guard.last_error or "")

    clock.now += 0.6  # backoff over: one more real try, still down, backoff doubles
    with pytest.raises(RedisUnavailable):
        await guard.call(lambda r: r.get("k"))
    clock.now += 0.6
    assert not guard.available
    clock.now += 0.5

    client.down = False
    assert await guard.call(lambda r: r.get("k")) == "k"
    assert recovered == [True] and guard.available and guard.last_error is None


async def test_local_hot_store_expires_and_renews() -> None:
    store = LocalHot(max_entries=2)
    await store.set("a", "1", ttl_s=0.2)
    await asyncio.sleep(0.12)
    assert await store.get("a", ttl_s=0.2) == "1"  # a read is activity: the TTL starts over
    await asyncio.sleep(0.12)
    assert await store.get("a", ttl_s=0.2) == "1"
    await asyncio.sleep(0.25)
    assert await store.get("a", ttl_s=0.2) is None
    for key in ("x", "y", "z"):
        await store.set(key, key, ttl_s=10)
    assert await store.get("x", ttl_s=10) is None  # least recently used, evicted
    assert await store.get("z", ttl_s=10) == "z"


async def test_local_link_codes_are_single_use_and_expire() -> None:
    codes = LinkCodes(None, "t:", ttl_s=1)
    code = await codes.issue("5511987654321")
    assert len(code) == 6 and code.isdigit()
    assert await codes.redeem(code, "web", "a@web") == "5511987654321"
    assert await codes.redeem(code, "web", "a@web") is None
    late = await codes.issue("5511987654321")
    await asyncio.sleep(1.1)
    assert await codes.redeem(late, "web", "b@web") is None
    for _ in range(5):  # five wrong tries are allowed, the sixth is refused
        assert await codes.redeem("000000", "web", "c@web") is None
    with pytest.raises(TooManyAttempts):
        await codes.redeem("000000", "web", "c@web")


async def test_link_codes_in_redis_work_across_instances(redis_url: str) -> None:
    prefix = "esquadra-test-codes:"
    first = GuardedRedis(connect_redis(redis_url))
    second = GuardedRedis(connect_redis(redis_url))
    try:
        code = await LinkCodes(first, prefix).issue("u-1")
        # Another worker redeems it; nobody can redeem it twice.
        assert await LinkCodes(second, prefix).redeem(code, "web", "w@web") == "u-1"
        assert await LinkCodes(first, prefix).redeem(code, "web", "w@web") is None
    finally:
        keys = [k async for k in first.client.scan_iter(f"{prefix}*")]
        if keys:
            await first.client.delete(*keys)
        await first.aclose()
        await second.aclose()


async def test_rediss_urls_make_tls_clients() -> None:
    client = connect_redis("rediss://default:secret@example.upstash.io:6379")
    try:
        kwargs = client.connection_pool.connection_kwargs
        assert client.connection_pool.connection_class.__name__ == "SSLConnection"
        assert kwargs["host"] == "example.upstash.io" and kwargs["socket_connect_timeout"] == 2
    finally:
        await client.aclose()


# Every key a turn leaves in Redis, by family, and the code that reads it. A key with no reader
# is a cache nobody reads: the per-thread message copy (`session:thread:`) was one.
READERS = {
    "session:sender:": "IdentityService.resolve (ChatService.prepare)",
    "session:user:": "IdentityService.active_thread (ChatService.prepare)",
    "gate:": "the thread lock's scripts (checkpointing/locks.py)",
    "memory:": "the memory consumer (checkpointing/memory_pipeline.py)",
    "alerts:evaluator": "the alert evaluator's lease (checkpointing/leases.py): one worker runs it",
}


async def test_a_turn_leaves_only_keys_that_something_reads(redis_url: str) -> None:
    prefix = f"esquadra-test-{uuid.uuid4().hex[:8]}:"
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    app = create_app(memory_settings(redis_url=redis_url, redis_prefix=prefix), environ={})
    try:
        async with AsyncTestClient(app=app) as http:
            for text in ("@max como divulgo a padaria?", "@max e no instagram?"):
                events = await chat(http, message=text, user_id="ana@web", channel="web")
                assert events[-1][0] == "done"
            keys = sorted(key.removeprefix(prefix) for key in client.scan_iter(f"{prefix}*"))
    finally:
        leftovers = list(client.scan_iter(f"{prefix}*"))
        if leftovers:
            client.delete(*leftovers)
        client.close()
    unread = [key for key in keys if not key.startswith(tuple(READERS))]
    assert unread == [], f"keys with no reader: {unread}"
    assert [key for key in keys if key.startswith("session:")] == [
        "session:sender:web:ana@web",
        "session:user:ana@web",
    ]


def windowed_squad(tmp_path: Path, history: int, routing: int) -> Path:
    return copy_squad(
        tmp_path,
        {
            "history_messages: 20": f"history_messages: {history}",
            "routing_messages: 8": f"routing_messages: {routing}",
        },
    )


async def test_the_model_is_shown_the_yaml_history_window(
    tmp_path: Path, online_env: dict[str, str], llm: Any
) -> None:
    squad = build_squad(load_spec(windowed_squad(tmp_path, history=3, routing=8)), online_env)
    graph = squad.builder.compile(checkpointer=InMemorySaver())
    llm.configure(replies=["resposta um", "resposta dois", "resposta três"])
    config = {"configurable": {"thread_id": "w-1"}}
    try:
        for text in ("@max primeira pergunta", "@max segunda pergunta", "@max terceira pergunta"):
            await graph.ainvoke({"messages": [HumanMessage(content=text)]}, config)
    finally:
        await squad.aclose()

    shown = llm.stub.requests[-1]["messages"]
    assert shown[0]["role"] == "system"
    # The thread holds five messages before this reply; the YAML lets the model see three.
    assert [(m["role"], m["content"]) for m in shown[1:]] == [
        ("user", "@max segunda pergunta"),
        ("assistant", "resposta dois"),
        ("user", "@max terceira pergunta"),
    ]


async def test_the_router_reads_the_yaml_routing_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    squad = build_squad(load_spec(windowed_squad(tmp_path, history=20, routing=2)), {})
    seen: list[list[HistoryTurn]] = []
    route = squad.router.route

    async def spy(text: str, history: Sequence[HistoryTurn] = (), **kwargs: Any) -> Any:
        seen.append(list(history))
        return await route(text, history, **kwargs)

    monkeypatch.setattr(squad.router, "route", spy)
    graph = squad.builder.compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "w-2"}}
    try:
        for text in ("@max primeira", "@max segunda", "@max terceira"):
            await graph.ainvoke({"messages": [HumanMessage(content=text)]}, config)
    finally:
        await squad.aclose()

    assert [len(history) for history in seen] == [0, 2, 2]
    # The two messages before "terceira": the second question and Max's (offline) answer.
    question, answer = seen[-1]
    assert (question["role"], question["content"]) == ("user", "@max segunda")
    assert (answer["role"], answer["agent"]) == ("assistant", "max")
