"""Long-term memory through the HTTP API: a fact told in one turn reaches a later prompt."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import (
    ADMIN_HEADERS,
    SQUAD_YAML,
    channel_chat,
    chat,
    copy_squad,
    memory_settings,
    parse_sse,
)
from litestar.testing import AsyncTestClient
from live_server import live_server

from core.settings import Settings
from server.app import create_app


def user() -> str:
    return f"5511{uuid.uuid4().int % 10**9:09d}"


async def facts_eventually(
    client: Any, user_id: str, count: int, timeout_s: float = 20.0
) -> list[dict[str, Any]]:
    """Poll the memory API: facts are stored after the reply, by the background consumer."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = await client.get(f"/v1/users/{user_id}/memory")
        assert response.status_code == 200, response.text
        facts = response.json()["facts"]
        if len(facts) >= count:
            return facts
        assert time.monotonic() < deadline, f"only {facts} after {timeout_s}s"
        await asyncio.sleep(0.05)


async def test_a_fact_told_in_a_turn_is_stored_after_the_reply(
    offline_client: AsyncTestClient,
) -> None:
    owner = user()
    events = await chat(
        offline_client,
        message="tenho uma padaria em Campinas e 5 funcionarios, quanto pago de das?",
        user_id=owner,
        thread_id="t-padaria",
    )
    assert events[-1][0] == "done"  # the reply does not wait for extraction or embedding
    facts = await facts_eventually(offline_client, owner, 2)
    assert [(f["kind"], f["text"]) for f in facts] == [
        ("business", "Tem uma padaria em Campinas"),
        ("employees", "Tem 5 funcionários"),
    ]
    assert {f["source_thread"] for f in facts} == {"t-padaria"}
    assert all(isinstance(f["id"], int) and f["created_at"].endswith("+00:00") for f in facts)


async def test_a_newer_statement_replaces_the_older_in_the_listing(
    offline_client: AsyncTestClient,
) -> None:
    owner = user()
    await chat(offline_client, message="são 5 funcionários", user_id=owner)
    await facts_eventually(offline_client, owner, 1)
    await chat(offline_client, message="agora sao 6 funcionarios", user_id=owner)
    deadline = time.monotonic() + 20
    while True:
        facts = (await offline_client.get(f"/v1/users/{owner}/memory")).json()["facts"]
        if [f["text"] for f in facts] == ["Tem 6 funcionários"]:
            break
        assert time.monotonic() < deadline, facts
        await asyncio.sleep(0.05)


async def test_delete_forgets_a_fact_and_unknown_ids_are_404(
    offline_client: AsyncTestClient,
) -> None:
    owner = user()
    await chat(offline_client, message="sou mei e tenho uma barbearia", user_id=owner)
    facts = await facts_eventually(offline_client, owner, 2)
    gone = facts[0]["id"]
    response = await offline_client.delete(f"/v1/users/{owner}/memory/{gone}")
    assert response.status_code == 204 and response.content == b""
    remaining = (await offline_client.get(f"/v1/users/{owner}/memory")).json()["facts"]
    assert [f["id"] for f in remaining] == [facts[1]["id"]]

    for unknown in (str(gone), "999999", "abc"):
        response = await offline_client.delete(f"/v1/users/{owner}/memory/{unknown}")
        assert response.status_code == 404
        body = response.json()
        assert body["code"] == "fact_not_found"
        assert unknown in body["message"] and "Não encontrei" in body["message"]
    # Another user cannot delete this user's fact.
    other = await offline_client.delete(f"/v1/users/{user()}/memory/{facts[1]['id']}")
    assert other.status_code == 404


async def test_unknown_user_has_an_empty_memory(offline_client: AsyncTestClient) -> None:
    response = await offline_client.get("/v1/users/nobody-here/memory")
    assert response.status_code == 200
    assert response.json() == {"user_id": "nobody-here", "facts": []}


async def test_a_fact_from_one_thread_is_in_the_prompt_of_a_later_turn(
    online_client: AsyncTestClient, llm: Any
) -> None:
    owner = user()
    llm.configure(replies=["Anotado!"])
    await chat(
        online_client,
        message="meu regime é Simples, anexo I, e tenho uma padaria em Campinas",
        user_id=owner,
        thread_id="thread-a",
    )
    await facts_eventually(online_client, owner, 2)
    await chat(
        online_client,
        message="quanto de imposto eu pago este mês?",
        user_id=owner,
        thread_id="thread-b",
    )
    system = llm.stub.requests[-1]["messages"][0]["content"]
    assert "O que o dono já contou sobre o negócio" in system
    assert "- Regime tributário: Simples Nacional, anexo I" in system
    assert "- Tem uma padaria em Campinas" in system


async def test_disabled_memory_stores_and_recalls_nothing(
    tmp_path: Path, online_env: dict[str, str], llm: Any
) -> None:
    config = copy_squad(tmp_path, {"memory:\n  enabled: true": "memory:\n  enabled: false"})
    owner = user()
    async with AsyncTestClient(app=create_app(memory_settings(config), environ=online_env)) as c:
        await chat(c, message="tenho uma padaria em Campinas", user_id=owner)
        await asyncio.sleep(0.3)
        assert (await c.get(f"/v1/users/{owner}/memory")).json()["facts"] == []
        system = llm.stub.requests[-1]["messages"][0]["content"]
        assert "O que o dono já contou" not in system


def test_end_to_end_on_postgres_and_redis(
    postgres_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A real server (uvicorn) on Postgres and Redis: chat, then the memory API, then delete."""
    prefix = f"esquadra-test-{uuid.uuid4().hex[:10]}:"
    settings = Settings(
        config_path=SQUAD_YAML,
        database_url=postgres_url,
        redis_url=redis_url,
        redis_prefix=prefix,
        data_dir=tmp_path,
    )
    owner = user()
    try:
        with (
            live_server(create_app(settings, environ={})) as url,
            httpx.Client(base_url=url, timeout=30) as http,
        ):
            reply = http.post(
                "/v1/chat",
                json={
                    "message": "Oi! tenho um salão de beleza em Belém-PA, são 4 funcionárias",
                    "user_id": owner,
                },
            )
            assert parse_sse(reply.text)[-1][0] == "done"
            deadline = time.monotonic() + 30
            while len(facts := http.get(f"/v1/users/{owner}/memory").json()["facts"]) < 2:
                assert time.monotonic() < deadline, facts
                time.sleep(0.05)
            assert [f["text"] for f in facts] == [
                "Tem um salão de beleza em Belém/PA",
                "Tem 4 funcionárias",
            ]
            assert http.delete(f"/v1/users/{owner}/memory/{facts[1]['id']}").status_code == 204
            left = http.get(f"/v1/users/{owner}/memory").json()["facts"]
            assert [f["text"] for f in left] == ["Tem um salão de beleza em Belém/PA"]
    finally:
        import redis as sync_redis

        client = sync_redis.Redis.from_url(redis_url)
        stream = f"{prefix}memory:in"
        entries = client.xlen(stream)
        pending = client.xpending(stream, "memory")["pending"] if entries else 0
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)
        client.close()
    assert entries == 1 and pending == 0  # went through the stream, and was acknowledged


async def test_offline_reply_mentions_remembered_facts_only_when_relevant(
    offline_client: AsyncTestClient,
) -> None:
    owner = user()
    await chat(offline_client, message="tenho 5 funcionarios", user_id=owner)
    await facts_eventually(offline_client, owner, 1)

    def text(events: list[tuple[str, dict[str, Any]]]) -> str:
        return "".join(data["text"] for kind, data in events if kind == "token")

    related = await chat(
        offline_client, message="posso dar ferias pros funcionarios?", user_id=owner
    )
    assert "📝 O que você já me contou: Tem 5 funcionários." in text(related)
    unrelated = await chat(
        offline_client, message="me da uma ideia de post pro instagram", user_id=owner
    )
    assert "O que você já me contou" not in text(unrelated)


async def test_a_fact_told_on_whatsapp_is_in_the_web_prompt_after_linking(
    online_client: AsyncTestClient, llm: Any
) -> None:
    """Linking folds the WhatsApp user into the web user; the facts move with it."""
    phone, web = user(), f"web-{uuid.uuid4().hex[:8]}"
    llm.configure(replies=["Certo!"])
    await channel_chat(  # as the WhatsApp webhook runs it
        online_client,
        message="sou mei e tenho uma barbearia em Niterói",
        user_id=phone,
        channel="whatsapp",
        thread_id="zap-1",
    )
    await facts_eventually(online_client, phone, 2)
    await chat(online_client, message="oi", user_id=web, channel="web", thread_id="web-1")
    linked = await online_client.post(
        f"/admin/api/users/{web}/links",
        json={"channel": "whatsapp", "sender_id": phone},
        headers=ADMIN_HEADERS,
    )
    assert linked.status_code == 200, linked.text
    facts = (await online_client.get(f"/v1/users/{web}/memory")).json()["facts"]
    assert sorted(f["text"] for f in facts) == [
        "Regime tributário: MEI",
        "Tem uma barbearia em Niterói",
    ]

    await chat(
        online_client,
        message="quanto é o DAS do mei?",
        user_id=web,
        channel="web",
        thread_id="web-2",  # a new thread: only long-term memory can carry the facts here
    )
    system = llm.stub.requests[-1]["messages"][0]["content"]
    assert "- Regime tributário: MEI" in system
    assert "- Tem uma barbearia em Niterói" in system
