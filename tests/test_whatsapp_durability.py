"""The WhatsApp message log on the real stores: each inbound message answered once, whether
Meta replays it, Redis is up, down or absent, or the app restarts in between; on the embedded
SQLite file and on PostgreSQL."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import whatsapp_meta as meta
from conftest import REDIS_TEST_URL, copy_squad, require_service
from litestar.testing import AsyncTestClient

from checkpointing.stores import open_stores
from fakes.graph_api import GraphServer, run_fake_graph_api
from server.app import create_app
from server.channels.whatsapp.message_log import MessageLog
from server.channels.whatsapp.payload import parse_webhook

LEO_MESSAGE = "Registre receita de R$ 1.500 da venda de hoje"
DEAD_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture(scope="module")
def graph_server() -> Iterator[GraphServer]:
    with run_fake_graph_api() as server:
        yield server


@pytest.fixture
def graph(graph_server: GraphServer) -> GraphServer:
    graph_server.reset()
    return graph_server


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest) -> str | None:
    """None: the embedded SQLite file (in the test's data dir); else a Postgres URL."""
    if request.param == "sqlite":
        return None
    return str(request.getfixturevalue("postgres_url"))


def _redis(mode: str) -> str | None:
    if mode == "up":
        require_service("Redis", "127.0.0.1", 6379)
        return REDIS_TEST_URL
    return DEAD_REDIS if mode == "down" else None


def _settings(graph: GraphServer, database: str | None, data_dir: Path, **overrides: Any) -> Any:
    return meta.whatsapp_settings(
        graph.url,
        database_url=database,
        data_dir=data_dir,
        redis_prefix=f"esquadra-test-{uuid.uuid4().hex[:10]}:",
        **overrides,
    )


async def _post(client: AsyncTestClient, body: dict[str, Any]) -> None:
    response = await client.post("/webhooks/whatsapp", **meta.signed(body))
    assert response.status_code == 200, response.text


async def in_app(client: AsyncTestClient, function: Any, *args: Any) -> Any:
    """`await function(*args)` on the app's own event loop (the test client's portal thread)."""
    return await asyncio.to_thread(client.blocking_portal.call, function, *args)


async def _idle(client: AsyncTestClient) -> None:
    await in_app(client, client.app.state.whatsapp.processor.idle)


async def _inbound_rows(client: AsyncTestClient, wamid: str) -> list[tuple[Any, ...]]:
    async def rows() -> list[tuple[Any, ...]]:
        async with client.app.state.whatsapp.log.db.transaction() as tx:
            return await tx.fetchall(
                "SELECT state, attempts FROM whatsapp_messages "
                "WHERE wamid = %s AND direction = 'in'",
                (wamid,),
            )

    return await in_app(client, rows)  # type: ignore[no-any-return]


@pytest.mark.parametrize("redis", ["up", "down", "unset"])
async def test_a_replayed_delivery_is_answered_once_even_across_a_restart(
    graph: GraphServer, database: str | None, redis: str, tmp_path: Path
) -> None:
    settings = _settings(graph, database, tmp_path, redis_url=_redis(redis))
    message = meta.text(meta.new_wa_id(), LEO_MESSAGE)
    body = meta.webhook([meta.change([message])])
    async with AsyncTestClient(app=create_app(settings, environ={})) as client:
        await _post(client, body)
        await _post(client, body)  # Meta retries: the first 200 was lost on its way
        await _idle(client)
        assert len(graph.texts()) == 1
    async with AsyncTestClient(app=create_app(settings, environ={})) as client:
        await _post(client, body)  # replayed after a restart, on the same database
        await _idle(client)
        assert await _inbound_rows(client, message["id"]) == [("answered", 1)]
    assert len(graph.texts()) == 1


def _squad_without_grace(tmp_path: Path) -> Path:
    config = copy_squad(tmp_path / "squad")
    text = config.read_text(encoding="utf-8")
    config.write_text(text + "\nchannels:\n  whatsapp:\n    shutdown_grace_s: 0\n", "utf-8")
    return config


async def test_a_message_accepted_but_unanswered_is_answered_once_after_a_restart(
    graph: GraphServer, database: str | None, online_env: dict[str, str], llm: Any, tmp_path: Path
) -> None:
    settings = _settings(graph, database, tmp_path, config_path=_squad_without_grace(tmp_path))
    message = meta.text(meta.new_wa_id(), LEO_MESSAGE)
    llm.configure(replies=["Resposta depois do reinício."], first_token_ms=60_000)
    async with AsyncTestClient(app=create_app(settings, environ=online_env)) as client:
        await _post(client, meta.webhook([meta.change([message])]))
        await graph.wait_for(lambda g: g.reads() == [message["id"]])  # being answered now
        deadline = time.monotonic() + 15
        while not llm.stub.requests:  # the model is thinking when the app stops
            assert time.monotonic() < deadline, "the turn never reached the model"
            await asyncio.sleep(0.05)
    assert graph.texts() == []
    llm.configure(replies=["Resposta depois do reinício."], first_token_ms=0)
    async with AsyncTestClient(app=create_app(settings, environ=online_env)) as client:
        await graph.wait_for(lambda g: len(g.texts()) == 1)  # the start's sweep found it
        await _idle(client)
        assert await _inbound_rows(client, message["id"]) == [("answered", 1)]
    assert graph.texts() == ["Resposta depois do reinício."]


async def test_a_dead_worker_s_claim_is_taken_over_after_its_lease(
    graph: GraphServer, database: str | None, tmp_path: Path
) -> None:
    settings = _settings(graph, database, tmp_path)
    message = meta.text(meta.new_wa_id(), LEO_MESSAGE)
    events = parse_webhook(meta.signed(meta.webhook([meta.change([message])]))["content"])
    async with open_stores(settings) as stores:  # a worker that claims it, then dies
        log = MessageLog(stores.db)
        assert await log.record(events, events.messages[0].sent_at) == events.messages
        assert await log.claim(message["id"], lease_s=0.001) is not None
    await asyncio.sleep(0.01)
    async with AsyncTestClient(app=create_app(settings, environ={})) as client:
        await graph.wait_for(lambda g: len(g.texts()) == 1)
        await _idle(client)
        assert await _inbound_rows(client, message["id"]) == [("answered", 2)]
    assert len(graph.texts()) == 1


async def test_of_two_claims_only_one_wins(
    graph: GraphServer, database: str | None, tmp_path: Path
) -> None:
    message = meta.text(meta.new_wa_id(), LEO_MESSAGE)
    events = parse_webhook(meta.signed(meta.webhook([meta.change([message])]))["content"])
    async with open_stores(_settings(graph, database, tmp_path)) as stores:
        log = MessageLog(stores.db)
        await log.record(events, events.messages[0].sent_at)
        claims = await asyncio.gather(*(log.claim(message["id"], lease_s=60) for _ in range(5)))
        assert sum(claim is not None for claim in claims) == 1
        await log.release(message["id"])  # a shutdown gives it back: claimable again, once
        again = await asyncio.gather(*(log.claim(message["id"], lease_s=60) for _ in range(5)))
        assert sum(claim is not None for claim in again) == 1
