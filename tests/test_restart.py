"""A conversation survives a real restart of the server process, on SQLite and on Postgres."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import parse_sse
from server_process import ServerProcess


def post_chat(url: str, **body: Any) -> list[tuple[str, dict[str, Any]]]:
    response = httpx.post(f"{url}/v1/chat", json=body, timeout=30)
    assert response.status_code == 200, response.text
    return parse_sse(response.text)


@pytest.fixture(params=["sqlite", "postgres"])
def storage_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    if request.param == "postgres":
        return {"DATABASE_URL": request.getfixturevalue("postgres_url")}
    return {"DATABASE_URL": "", "ESQUADRA_DATA_DIR": str(tmp_path / "data")}


def test_conversation_survives_a_killed_server(
    storage_env: dict[str, str], online_env: dict[str, str], llm: Any
) -> None:
    env = {**storage_env, **online_env, "REDIS_URL": ""}
    first = "tenho uma padaria em Campinas com 5 funcionários"
    with ServerProcess(env) as server:
        events = post_chat(server.url, message=first, thread_id="padaria-1")
        assert events[-1][0] == "done"
        server.kill()  # SIGKILL: no graceful shutdown, as in a crash

    with ServerProcess(env) as server:
        thread = httpx.get(f"{server.url}/v1/threads/padaria-1", timeout=10).json()
        assert [m["role"] for m in thread["messages"]] == ["user", "assistant"]
        assert thread["messages"][0]["content"] == first
        events = post_chat(
            server.url, message="e quantos funcionários eu tenho?", thread_id="padaria-1"
        )
        assert events[-1][0] == "done"

    # The model saw the earlier turn after the restart: the memory is the checkpointer's.
    last_prompt = [m["content"] for m in llm.stub.requests[-1]["messages"]]
    assert first in last_prompt
    assert "e quantos funcionários eu tenho?" in last_prompt


def test_two_workers_share_one_conversation_through_postgres(
    postgres_url: str, redis_url: str
) -> None:
    prefix = f"esquadra-test-{uuid.uuid4().hex[:8]}:"
    env = {
        "DATABASE_URL": postgres_url,
        "REDIS_URL": redis_url,
        "ESQUADRA_REDIS_PREFIX": prefix,
        "OPENAI_API_KEY": "",
    }
    owner = f"dono-{uuid.uuid4().hex[:8]}"
    with ServerProcess(env, workers=2) as server:
        for n in range(1, 6):
            # A new connection each time, so the kernel spreads them over both workers: the
            # question asked by one is answered ("sim") on whichever gets the next message.
            for message in (f"registra {n}00 de venda hoje", "sim"):
                events = post_chat(server.url, message=message, thread_id="w-1", user_id=owner)
                assert events[-1][0] == "done"
        events = post_chat(
            server.url, message="@leo qual meu saldo?", thread_id="w-1", user_id=owner
        )
        reply = "".join(data["text"] for kind, data in events if kind == "token")
        thread = httpx.get(f"{server.url}/v1/threads/w-1", timeout=10).json()
    assert [m["role"] for m in thread["messages"]] == ["user", "assistant"] * 11
    assert "saldo R$ 1.500,00" in reply  # 100 + 200 + 300 + 400 + 500, whichever worker wrote
