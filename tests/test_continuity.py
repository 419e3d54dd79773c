"""No lost context: a killed server, another channel, a flushed or dead Redis, an expired session.

Real `esquadra serve` processes on the real Postgres and Redis, the stub LLM; every check reads
what the model was shown (`llm.stub.requests[-1]["messages"]`). Redis keys go under a prefix of
this test's own; the Redis that is stopped is a `redis-server` this module starts, never the
machine's shared one.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from conftest import copy_squad, parse_sse
from server_process import ServerProcess, free_port

PHONE = "5511987654321"


def post_chat(url: str, **body: Any) -> dict[str, Any]:
    response = httpx.post(f"{url}/v1/chat", json=body, timeout=30)
    assert response.status_code == 200, response.text
    kind, data = parse_sse(response.text)[-1]
    assert kind == "done", data
    return data


def prompt(llm: Any) -> list[str]:
    """The texts of the messages the model got in its last request."""
    return [m["content"] for m in llm.stub.requests[-1]["messages"]]


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own on the shared Redis, deleted afterwards."""
    value = f"esquadra-test-{uuid.uuid4().hex[:8]}:"
    yield value
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{value}*"))
    if keys:
        client.delete(*keys)
    client.close()


def hot_user(client: redis.Redis, prefix: str, user_id: str) -> dict[str, Any] | None:
    """The hot session's copy of a user: {user_id, links, active_thread}."""
    import json

    raw = client.get(f"{prefix}session:user:{user_id}")
    return json.loads(raw) if raw else None


def test_killed_server_continues_the_users_thread(
    postgres_url: str, redis_url: str, prefix: str, online_env: dict[str, str], llm: Any
) -> None:
    env = {
        **online_env,
        "DATABASE_URL": postgres_url,
        "REDIS_URL": redis_url,
        "ESQUADRA_REDIS_PREFIX": prefix,
    }
    first = "tenho uma padaria em Campinas com 5 funcionários"
    with ServerProcess(env) as server:
        thread = post_chat(server.url, message=first, user_id=PHONE)["thread_id"]
        server.kill()  # SIGKILL: no graceful shutdown, as in a crash

    with ServerProcess(env) as server:
        # No thread id: the user's active thread is found again (identity, not the client).
        done = post_chat(server.url, message="quantos funcionários eu tenho?", user_id=PHONE)
    assert done["thread_id"] == thread
    assert first in prompt(llm)
    assert "quantos funcionários eu tenho?" in prompt(llm)


def test_a_conversation_continues_on_the_web_after_linking(
    postgres_url: str, redis_url: str, prefix: str, online_env: dict[str, str], llm: Any
) -> None:
    env = {
        **online_env,
        "DATABASE_URL": postgres_url,
        "REDIS_URL": redis_url,
        "ESQUADRA_REDIS_PREFIX": prefix,
    }
    fact = "meu regime é Simples Nacional, anexo I, e a padaria fica em Campinas"
    with ServerProcess(env) as server:
        # An integration's user (`api`); a WhatsApp sender comes only through the webhook.
        thread = post_chat(server.url, message=fact, user_id=PHONE)["thread_id"]
        code = httpx.post(f"{server.url}/v1/users/{PHONE}/link-codes", timeout=10).json()["code"]
        linked = httpx.post(
            f"{server.url}/v1/link",
            json={"channel": "web", "sender_id": "dona.ana@web", "code": code},
            timeout=10,
        )
        assert linked.status_code == 200, linked.text
        done = post_chat(
            server.url,
            message="qual é o meu regime tributário?",
            channel="web",
            user_id="dona.ana@web",
        )
        user = httpx.get(f"{server.url}/v1/users/{PHONE}", timeout=10).json()

    assert done["thread_id"] == thread
    assert fact in prompt(llm)  # the web reply was written with the first message in view
    assert user["active_thread"] == thread
    assert {(x["channel"], x["sender_id"]) for x in user["links"]} == {
        ("api", PHONE),
        ("web", "dona.ana@web"),
    }


def test_expired_or_flushed_hot_session_is_rebuilt(
    postgres_url: str,
    redis_url: str,
    prefix: str,
    online_env: dict[str, str],
    llm: Any,
    tmp_path: Path,
) -> None:
    ttl_s = 0.001 * 3600  # 3.6 s
    config = copy_squad(tmp_path, {"ttl_hours: 24": "ttl_hours: 0.001"})  # sessions.cache
    env = {
        **online_env,
        "DATABASE_URL": postgres_url,
        "REDIS_URL": redis_url,
        "ESQUADRA_REDIS_PREFIX": prefix,
    }
    client = redis.Redis.from_url(redis_url)
    user = "cliente-api-1"
    with ServerProcess(env, config=config) as server:
        thread = post_chat(server.url, message="primeira: vendo pão de queijo", user_id=user)[
            "thread_id"
        ]
        hot = hot_user(client, prefix, user)
        assert hot is not None and hot["active_thread"] == thread
        assert 0 < client.ttl(f"{prefix}session:user:{user}") <= ttl_s + 1

        time.sleep(ttl_s + 1.5)  # idle past the TTL: every key of the session is gone
        assert not list(client.scan_iter(f"{prefix}session:*"))
        done = post_chat(server.url, message="segunda: e o preço?", user_id=user)
        assert done["thread_id"] == thread  # active thread came back from Postgres
        # The thread came back from the checkpointer, not just this turn.
        assert "primeira: vendo pão de queijo" in prompt(llm)
        hot = hot_user(client, prefix, user)
        assert hot is not None and hot["active_thread"] == thread  # rebuilt from Postgres

        client.delete(*client.scan_iter(f"{prefix}*"))  # "FLUSHDB" of our own keys
        done = post_chat(server.url, message="terceira: e o troco?", user_id=user)
        assert done["thread_id"] == thread
        assert "primeira: vendo pão de queijo" in prompt(llm)
        assert "segunda: e o preço?" in prompt(llm)
        hot = hot_user(client, prefix, user)
        assert hot is not None and hot["active_thread"] == thread
    client.close()


class RedisServer:
    """A throwaway `redis-server` on a free port that the test may kill and start again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed"
        # No persistence: a restart comes back empty, like a crashed cache.
        options = ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        self._proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", *options],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis(port=self.port, socket_timeout=0.5).ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise TimeoutError("redis-server did not start")

    def kill(self) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL)
            self._proc.wait(timeout=10)


@pytest.fixture
def own_redis(redis_url: str) -> Iterator[RedisServer]:
    # `redis_url` only for its skip/fail rule: this test needs Redis installed like CI has it.
    server = RedisServer()
    server.start()
    yield server
    server.kill()


def timed_chat(url: str, **body: Any) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    done = post_chat(url, **body)
    return done, time.perf_counter() - started


def test_dead_redis_degrades_and_recovers_without_restart(
    postgres_url: str, own_redis: RedisServer, online_env: dict[str, str], llm: Any
) -> None:
    env = {**online_env, "DATABASE_URL": postgres_url, "REDIS_URL": own_redis.url}
    client = redis.Redis.from_url(own_redis.url)
    user = "cliente-redis-1"
    with ServerProcess(env) as server:
        thread, healthy_s = timed_chat(server.url, message="um: abri a loja hoje", user_id=user)
        thread = thread["thread_id"]
        assert hot_user(client, "esquadra:", user) is not None

        own_redis.kill()
        slowest = 0.0
        for text in ("dois: vendi 30 pães", "três: e amanhã?"):
            done, took = timed_chat(server.url, message=text, user_id=user)
            assert done["thread_id"] == thread
            slowest = max(slowest, took)
        assert "um: abri a loja hoje" in prompt(llm)
        # Short timeouts and the breaker: a dead Redis does not add seconds to a turn.
        assert slowest < healthy_s + 1.0, (slowest, healthy_s)
        ready = httpx.get(f"{server.url}/readyz", timeout=10)
        assert ready.status_code == 200
        assert ready.json()["status"] == "degraded"
        assert ready.json()["redis"].startswith("error: ")

        own_redis.start()  # empty: nothing survived the crash
        deadline = time.monotonic() + 15
        while httpx.get(f"{server.url}/readyz", timeout=10).json()["status"] != "ready":
            assert time.monotonic() < deadline, "readyz never went back to ready"
            time.sleep(0.2)
        # The breaker retries within seconds; keep talking until the hot session is back.
        deadline = time.monotonic() + 15
        n = 4
        while True:
            done = post_chat(server.url, message=f"{n}: voltou?", user_id=user)
            assert done["thread_id"] == thread
            hot = hot_user(client, "esquadra:", user)
            if hot is not None:
                break
            assert time.monotonic() < deadline, "hot session never came back"
            n += 1
            time.sleep(0.5)
    # Rebuilt from the identity tables; the model still saw the thread from its first message.
    assert hot["active_thread"] == thread
    assert "um: abri a loja hoje" in prompt(llm)
    assert f"{n}: voltou?" in prompt(llm)
    client.close()
