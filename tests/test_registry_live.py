"""The live squad: a registry change reaches the next turn with no restart and no retraining."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import SQUAD_YAML, chat, store_settings

from checkpointing import open_stores
from graphs import registry
from graphs.loader import load_spec

LOADED = load_spec(SQUAD_YAML)
HR_QUESTION = "@lia quanto é o 13º da funcionária que entrou em agosto?"
MARKETING_QUESTION = "me ajuda com um post pro dia dos pais"

TOKENS = "max_completion_tokens"  # langchain-openai's name on the wire for `max_tokens`

Client = Callable[[dict[str, str]], Any]


@pytest.fixture(params=["sqlite", "postgres"])
async def app_client(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Client]:
    """Opens the app on this backend (SQLite file or Postgres) with the given model env."""
    from litestar.testing import AsyncTestClient

    from server.app import create_app

    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    settings = store_settings(url, tmp_path)
    async with open_stores(settings) as stores, stores.db.transaction() as tx:
        for table in ("agent_versions", "agent_audit", "agent_synced"):  # per-module database
            await tx.execute(f"DELETE FROM {table}")

    @asynccontextmanager
    async def open_client(environ: dict[str, str]) -> AsyncIterator[Any]:
        async with AsyncTestClient(app=create_app(settings, environ=environ)) as client:
            yield client

    yield open_client


async def on_app(client: Any, function: Any, *args: Any) -> Any:
    """`await function(*args)` on the app's own loop, where its stores were opened: the app's
    background tasks (registry poll, alerts, reminders) use them there at the same time."""
    return await asyncio.to_thread(client.blocking_portal.call, function, *args)


def _live(client: Any) -> Any:
    return client.app.state.chat.live


async def test_a_deactivated_agent_routes_to_the_fallback_and_back(app_client: Client) -> None:
    async with app_client({}) as client:
        live = _live(client)
        router = client.app.state.chat.squad.router
        head_before = [layer for layer in router.layers]
        assert (await chat(client, message=HR_QUESTION))[0][1]["agent"] == "lia"

        await on_app(client, registry.propose, live.store, LOADED, "lia", {"active": False}, "ana")
        assert await on_app(client, live.refresh)
        events = await chat(client, message=HR_QUESTION)
        assert events[0][1]["agent"] == "max"

        await on_app(client, registry.propose, live.store, LOADED, "lia", {"active": True}, "ana")
        assert await on_app(client, live.refresh)
        assert (await chat(client, message=HR_QUESTION))[0][1]["agent"] == "lia"
        assert router.layers == head_before  # the same layers, nothing refitted


async def test_a_temperature_change_reaches_the_next_model_request(
    app_client: Client, online_env: dict[str, str], llm: Any
) -> None:
    async with app_client(online_env) as client:
        live = _live(client)
        await chat(client, message=MARKETING_QUESTION)
        first = llm.stub.requests[-1]
        assert (first["temperature"], first[TOKENS]) == (0.6, 800)  # Max's, from the YAML

        patch = {"temperature": 1.3, "max_tokens": 321, "prompt_text": "Você é o Max. Seja breve."}
        await on_app(client, registry.propose, live.store, LOADED, "max", patch, "ana")
        assert await on_app(client, live.refresh)
        events = await chat(client, message=MARKETING_QUESTION)
        assert events[0][1]["agent"] == "max"
        request = llm.stub.requests[-1]
        assert (request["temperature"], request[TOKENS]) == (1.3, 321)
        assert request["messages"][0]["content"].startswith("Você é o Max. Seja breve.")


async def test_the_background_poll_picks_up_a_change(app_client: Client) -> None:
    async with app_client({}) as client:
        live = _live(client)
        await on_app(client, registry.propose, live.store, LOADED, "lia", {"active": False}, "ana")
        revision = await on_app(client, live.store.revision)
        for _ in range(100):  # the poll runs every 0.5 s; give it up to 10 s on a busy machine
            if live.current.revision == revision:
                break
            await asyncio.sleep(0.1)
        assert "lia" not in live.current.active


async def test_a_turn_keeps_the_snapshot_it_started_with(app_client: Client) -> None:
    async with app_client({}) as client:
        live = _live(client)
        before = live.current
        await on_app(client, registry.propose, live.store, LOADED, "lia", {"active": False}, "ana")
        await on_app(client, live.refresh)
        assert "lia" in before.active  # a snapshot is never changed in place
        assert "lia" not in live.current.active
