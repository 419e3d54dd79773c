"""Double-texting on one thread, over real HTTP: enqueue (in-process, Redis, two workers),
reject, interrupt and the WhatsApp debounce."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import REDIS_TEST_URL, SQUAD_YAML, copy_squad, parse_sse
from live_server import live_server
from server_process import ServerProcess

from core.settings import Settings
from server.app import create_app

N_MESSAGES = 100
STUB_PREFIX = "Resposta simulada para: "  # the stub LLM's default reply echoes the message


@pytest.fixture
def redis_prefix(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A key prefix of our own for this test (child servers read it from the environment; the
    in-process app from its settings); its keys are deleted afterwards."""
    prefix = f"esquadra-test-{uuid.uuid4().hex[:8]}:"
    monkeypatch.setenv("ESQUADRA_REDIS_PREFIX", prefix)
    yield prefix
    import redis

    client = redis.Redis.from_url(REDIS_TEST_URL)
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


def policy_squad(tmp_path: Path, channel: str, policy: str) -> Path:
    line = f"{channel}:      {{policy: enqueue, debounce_ms: 0}}"
    return copy_squad(tmp_path, {line: f"{channel}:      {{policy: {policy}, debounce_ms: 0}}"})


async def post_chat(client: httpx.AsyncClient, url: str, **body: Any) -> list[tuple[str, Any]]:
    response = await client.post(f"{url}/v1/chat", json=body)
    assert response.status_code == 200, response.text
    return parse_sse(response.text)


async def send_concurrently(urls: list[str], thread_id: str) -> tuple[list[Any], float]:
    """N_MESSAGES messages to one thread at once, spread over `urls`; the streams and the time."""
    limits = httpx.Limits(max_connections=N_MESSAGES * 2, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=180, limits=limits) as client:
        started = time.perf_counter()
        streams = await asyncio.gather(
            *(
                post_chat(
                    client, urls[n % len(urls)], message=f"@max pedido {n}", thread_id=thread_id
                )
                for n in range(N_MESSAGES)
            )
        )
        return streams, time.perf_counter() - started


def assert_each_answered_once_in_order(streams: list[Any], thread: dict[str, Any]) -> None:
    assert [events[-1][0] for events in streams] == ["done"] * N_MESSAGES
    messages = thread["messages"]
    assert len(messages) == 2 * N_MESSAGES
    assert [m["role"] for m in messages] == ["user", "assistant"] * N_MESSAGES
    asked = [m["content"] for m in messages[0::2]]
    assert sorted(asked) == sorted(f"@max pedido {n}" for n in range(N_MESSAGES))
    for question, answer in zip(messages[0::2], messages[1::2], strict=True):
        # Each reply was written right after its own message, and for that message.
        assert answer["content"] == STUB_PREFIX + question["content"]
    # What each client streamed is the reply stored for its message.
    pairs = zip(messages[0::2], messages[1::2], strict=True)
    stored = {q["content"]: a["content"] for q, a in pairs}
    for n, events in enumerate(streams):
        streamed = "".join(data["text"] for kind, data in events if kind == "token")
        assert streamed == stored[f"@max pedido {n}"]


@pytest.fixture
async def redis_server(
    redis_url: str, postgres_url: str, redis_prefix: str, online_env: dict[str, str]
) -> AsyncIterator[str]:
    settings = Settings(
        config_path=SQUAD_YAML,
        database_url=postgres_url,
        redis_url=redis_url,
        redis_prefix=redis_prefix,
    )
    with live_server(create_app(settings, environ=online_env)) as url:
        yield url


async def test_100_concurrent_messages_are_answered_once_each_in_order_redis(
    redis_server: str, llm: Any
) -> None:
    streams, elapsed = await send_concurrently([redis_server], "fila-redis")
    async with httpx.AsyncClient() as client:
        thread = (await client.get(f"{redis_server}/v1/threads/fila-redis")).json()
    assert_each_answered_once_in_order(streams, thread)
    print(f"\n{N_MESSAGES} enqueued messages (Redis + Postgres, 1 worker): {elapsed:.2f}s")


async def test_100_concurrent_messages_in_process_gate(
    online_env: dict[str, str], llm: Any
) -> None:
    settings = Settings(config_path=SQUAD_YAML, database_url="memory", redis_url=None)
    with live_server(create_app(settings, environ=online_env)) as url:
        streams, elapsed = await send_concurrently([url], "fila-local")
        async with httpx.AsyncClient() as client:
            thread = (await client.get(f"{url}/v1/threads/fila-local")).json()
    assert_each_answered_once_in_order(streams, thread)
    print(f"\n{N_MESSAGES} enqueued messages (in-process gate): {elapsed:.2f}s")


async def test_100_concurrent_messages_over_two_server_processes(
    redis_url: str, postgres_url: str, redis_prefix: str, online_env: dict[str, str], llm: Any
) -> None:
    env = {**online_env, "DATABASE_URL": postgres_url, "REDIS_URL": redis_url}
    with ServerProcess(env) as first, ServerProcess(env) as second:
        streams, elapsed = await send_concurrently([first.url, second.url], "fila-2")
        async with httpx.AsyncClient() as client:
            thread = (await client.get(f"{second.url}/v1/threads/fila-2")).json()
    assert_each_answered_once_in_order(streams, thread)
    print(f"\n{N_MESSAGES} enqueued messages (2 processes, Redis + Postgres): {elapsed:.2f}s")


async def open_stream(client: httpx.AsyncClient, url: str, **body: Any) -> httpx.Response:
    request = client.build_request("POST", f"{url}/v1/chat", json=body)
    return await client.send(request, stream=True)


async def read_events(response: httpx.Response) -> AsyncIterator[tuple[str, Any]]:
    buffer = ""
    async for text in response.aiter_text():
        buffer += text.replace("\r\n", "\n")
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            yield from_block(block)


def from_block(block: str) -> tuple[str, Any]:
    events = parse_sse(block + "\n\n")
    return events[0] if events else ("ping", {})


async def test_reject_answers_409_while_the_thread_is_busy(
    tmp_path: Path, redis_url: str, redis_prefix: str, online_env: dict[str, str], llm: Any
) -> None:
    llm.configure(first_token_ms=1500)
    config = policy_squad(tmp_path, "web", "reject")
    settings = Settings(
        config_path=config, database_url="memory", redis_url=redis_url, redis_prefix=redis_prefix
    )
    with live_server(create_app(settings, environ=online_env)) as url:
        async with httpx.AsyncClient(timeout=30) as client:
            first = await open_stream(
                client, url, message="@leo qual meu saldo?", thread_id="r-1", channel="web"
            )
            assert first.status_code == 200  # headers come after the gate admitted it
            busy = await client.post(
                f"{url}/v1/chat",
                json={"message": "oi de novo", "thread_id": "r-1", "channel": "web"},
            )
            busy_json = await client.post(
                f"{url}/v1/chat",
                json={"message": "oi de novo", "thread_id": "r-1", "channel": "web"},
                headers={"Accept": "application/json"},
            )
            events = [event async for event in read_events(first)]
            after = await client.post(
                f"{url}/v1/chat",
                json={"message": "@leo e agora?", "thread_id": "r-1", "channel": "web"},
            )
    for response in (busy, busy_json):
        assert response.status_code == 409
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["code"] == "thread_busy"
        assert "Espere a resposta terminar" in response.json()["message"]
    assert events[-1][0] == "done"
    assert after.status_code == 200  # free again once the reply is done


async def test_interrupt_cancels_the_running_reply_and_keeps_it_marked(
    tmp_path: Path, redis_url: str, redis_prefix: str, online_env: dict[str, str], llm: Any
) -> None:
    long_reply = "um dois três quatro cinco seis sete oito nove dez onze doze treze"
    llm.configure(replies=[long_reply, "Pronto, respondendo a nova."], token_interval_ms=150)
    config = policy_squad(tmp_path, "web", "interrupt")
    settings = Settings(
        config_path=config, database_url="memory", redis_url=redis_url, redis_prefix=redis_prefix
    )
    with live_server(create_app(settings, environ=online_env)) as url:
        async with httpx.AsyncClient(timeout=30) as client:
            first = await open_stream(
                client, url, message="@max me fala de promoções", thread_id="i-1", channel="web"
            )
            seen: list[tuple[str, Any]] = []
            second: asyncio.Task[Any] | None = None
            async for kind, data in read_events(first):
                seen.append((kind, data))
                if second is None and sum(k == "token" for k, _ in seen) == 2:
                    second = asyncio.create_task(
                        post_chat(
                            client,
                            url,
                            message="@max esquece, e o caixa?",
                            thread_id="i-1",
                            channel="web",
                        )
                    )
            assert second is not None
            second_events = await second
            thread = (await client.get(f"{url}/v1/threads/i-1")).json()
    assert seen[-1][0] == "error" and seen[-1][1]["code"] == "interrupted"
    assert "mensagem nova" in seen[-1][1]["message"]
    streamed = "".join(data["text"] for kind, data in seen if kind == "token")
    assert streamed and long_reply.startswith(streamed) and streamed != long_reply
    assert second_events[-1][0] == "done"
    assert thread["messages"] == [
        {"role": "user", "content": "@max me fala de promoções", "agent": None},
        {"role": "assistant", "content": streamed, "agent": "max", "interrupted": True},
        {"role": "user", "content": "@max esquece, e o caixa?", "agent": None},
        {"role": "assistant", "content": "Pronto, respondendo a nova.", "agent": "max"},
    ]


@pytest.mark.parametrize("store", ["redis", "local"])
async def test_debounce_merges_a_burst_into_one_turn(
    store: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    online_env: dict[str, str],
    llm: Any,
) -> None:
    redis_url, prefix = None, "esquadra:"
    if store == "redis":
        redis_url = request.getfixturevalue("redis_url")
        prefix = request.getfixturevalue("redis_prefix")
    # WhatsApp's 1,500 ms window, on the `api` channel: no request body may claim a WhatsApp
    # sender (only the webhook's adapter proves one).
    config = copy_squad(
        tmp_path,
        {
            "api:      {policy: enqueue, debounce_ms: 0}": (
                "api:      {policy: enqueue, debounce_ms: 1500}"
            )
        },
    )
    settings = Settings(
        config_path=config, database_url="memory", redis_url=redis_url, redis_prefix=prefix
    )
    burst = ["@lia oi", "preciso de ajuda", "com as férias da funcionária"]
    with live_server(create_app(settings, environ=online_env)) as url:
        async with httpx.AsyncClient(timeout=30) as client:
            tasks = []
            for text in burst:  # 300 ms apart: inside WhatsApp's 1,500 ms window
                body = {
                    "message": text,
                    "thread_id": "zap-1",
                    "user_id": "5511987654321",
                }
                tasks.append(asyncio.create_task(post_chat(client, url, **body)))
                await asyncio.sleep(0.3)
            streams = await asyncio.gather(*tasks)
            thread = (await client.get(f"{url}/v1/threads/zap-1")).json()
    finals = [events[-1][0] for events in streams]
    assert finals == ["done", "merged", "merged"]
    assert all(len(events) == 1 for events in streams[1:])  # merged is the only event
    intos = {events[0][1]["into"] for events in streams[1:]}
    assert len(intos) == 1 and streams[1][0][1]["thread_id"] == "zap-1"
    merged = "\n".join(burst)
    assert thread["messages"] == [
        {"role": "user", "content": merged, "agent": None},
        {"role": "assistant", "content": STUB_PREFIX + merged, "agent": "lia"},
    ]


N_PAIRS = 50


async def test_message_pairs_30ms_apart_are_answered_in_send_order(
    redis_url: str, postgres_url: str, redis_prefix: str, online_env: dict[str, str], llm: Any
) -> None:
    """The order is the order the server received the messages, not the order their look-ups
    (identity, hot session, a Redis connection) happened to finish."""
    from litestar.testing import AsyncTestClient

    llm.configure(first_token_ms=40)  # each turn outlasts the gap: the thread stays busy
    settings = Settings(config_path=SQUAD_YAML, database_url=postgres_url, redis_url=redis_url)
    body = {"thread_id": "pares", "channel": "web", "user_id": "5511900000000"}
    sent = [f"@max pedido {n}{part}" for n in range(N_PAIRS) for part in "ab"]
    async with AsyncTestClient(app=create_app(settings, environ=online_env), timeout=120) as client:
        tasks = []
        for text in sent:
            request = client.post("/v1/chat", json={**body, "message": text})
            tasks.append(asyncio.create_task(request))
            await asyncio.sleep(0.03)
        responses = await asyncio.gather(*tasks)
        thread = (await client.get("/v1/threads/pares")).json()
    assert [parse_sse(r.text)[-1][0] for r in responses] == ["done"] * len(sent)
    asked = [m["content"] for m in thread["messages"][0::2]]
    swapped = [n for n in range(N_PAIRS) if asked.index(sent[2 * n]) > asked.index(sent[2 * n + 1])]
    print(f"\n{N_PAIRS} pairs 30 ms apart: {len(swapped)} answered out of send order")
    assert asked == sent
