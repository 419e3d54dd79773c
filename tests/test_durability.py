"""Checkpoint durability: one checkpoint per turn by default, and no lost user message when a
turn ends early (provider failure is in test_server; here, a client that hangs up)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
from conftest import chat, copy_squad, memory_settings
from litestar.testing import AsyncTestClient
from live_server import live_server

from server.app import create_app


async def checkpoints(app: Any, thread_id: str) -> int:
    graph = app.state.chat.graph
    return len(
        [c async for c in graph.aget_state_history({"configurable": {"thread_id": thread_id}})]
    )


async def test_a_turn_writes_one_checkpoint_by_default() -> None:
    app = create_app(memory_settings(), environ={})
    async with AsyncTestClient(app=app) as client:
        await chat(client, message="@max como divulgo a padaria?", thread_id="d-1")
        await chat(client, message="@max e no instagram?", thread_id="d-1")
        assert await checkpoints(app, "d-1") == 2
        thread = (await client.get("/v1/threads/d-1")).json()["messages"]
        assert [m["role"] for m in thread] == ["user", "assistant", "user", "assistant"]


async def test_async_durability_checkpoints_every_step(tmp_path: Path) -> None:
    config = copy_squad(tmp_path, {"durability: exit": "durability: async"})
    app = create_app(memory_settings(config), environ={})
    async with AsyncTestClient(app=app) as client:
        await chat(client, message="@max como divulgo a padaria?", thread_id="d-2")
        # input, the start node, classify, the agent
        assert await checkpoints(app, "d-2") == 4


def test_a_client_that_hangs_up_mid_reply_leaves_its_message_in_the_thread(
    online_env: dict[str, str], llm: Any
) -> None:
    llm.configure(replies=["uma resposta bem longa " * 20], token_interval_ms=50)
    app = create_app(memory_settings(), environ=online_env)
    with live_server(app) as url:
        body = {"message": "me ajuda com um post pro dia dos pais", "thread_id": "d-3"}
        with httpx.stream("POST", f"{url}/v1/chat", json=body, timeout=10) as response:
            for line in response.iter_lines():
                if line.startswith("event: token"):
                    break  # hang up while the agent is still answering
        messages: list[dict[str, Any]] = []
        for _ in range(100):  # the server notices the hang-up on its next write
            thread = httpx.get(f"{url}/v1/threads/d-3", timeout=10)
            if thread.status_code == 200:
                messages = thread.json()["messages"]
                if messages:
                    break
            threading.Event().wait(0.05)
    assert messages[0] == {
        "role": "user",
        "content": "me ajuda com um post pro dia dos pais",
        "agent": None,
    }
    assert len(messages) == 1  # the cut reply is not stored as if it had been said
