"""A server killed mid-reply (kill -9) loses no user message, with the default durability.

The message is durable before the reply starts (`pending_turns`); after the restart the thread
shows it, and the next turn answers it with a visible mark where the cut reply was.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from server_process import ServerProcess

from server.chat import CUT_REPLY_NOTE

# Kill cycles per backend; the must-show run uses ESQUADRA_TEST_CRASH_CYCLES=10.
CYCLES = int(os.environ.get("ESQUADRA_TEST_CRASH_CYCLES", "2"))
SLOW = {"default_reply": "conta " * 300, "first_token_ms": 50, "token_interval_ms": 100}  # ~30 s
FAST = {"default_reply": None, "first_token_ms": 0, "token_interval_ms": 0}


@pytest.fixture(params=["sqlite", "postgres"])
def storage_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    if request.param == "postgres":
        return {"DATABASE_URL": request.getfixturevalue("postgres_url")}
    return {"DATABASE_URL": "", "ESQUADRA_DATA_DIR": str(tmp_path / "data")}


def _stream_until_first_token(url: str, body: dict[str, Any], started: threading.Event) -> None:
    """Open the chat stream and read until a token arrives; the server dies under it."""
    try:
        with httpx.stream("POST", f"{url}/v1/chat", json=body, timeout=30) as response:
            for line in response.iter_lines():
                if line.startswith("event: token"):
                    started.set()
    except httpx.HTTPError:
        pass  # the server was killed: the stream breaks, as a client would see it
    finally:
        started.set()


def test_kill_9_mid_reply_keeps_the_message(
    storage_env: dict[str, str], online_env: dict[str, str], llm: Any
) -> None:
    env = {**storage_env, **online_env, "REDIS_URL": ""}
    llm.configure(**SLOW)
    kept = 0
    for cycle in range(CYCLES):
        thread_id, first = f"crash-{uuid.uuid4().hex[:8]}", f"registra {cycle + 1}00 de venda"
        with ServerProcess(env) as server:
            started = threading.Event()
            reader = threading.Thread(
                target=_stream_until_first_token,
                args=(server.url, {"message": first, "thread_id": thread_id}, started),
            )
            reader.start()
            assert started.wait(20), "no token streamed before the kill"
            server.kill()  # SIGKILL mid-reply: nothing graceful runs
            reader.join(10)

        llm.configure(**FAST)
        with ServerProcess(env) as server:
            shown = httpx.get(f"{server.url}/v1/threads/{thread_id}", timeout=10).json()
            assert shown["messages"][-1] == {
                "role": "user",
                "content": first,
                "agent": None,
                "pending": True,
            }
            second = "e agora, tudo certo?"
            reply = httpx.post(
                f"{server.url}/v1/chat",
                json={"message": second, "thread_id": thread_id},
                headers={"accept": "application/json"},
                timeout=30,
            )
            assert reply.status_code == 200, reply.text
            after = httpx.get(f"{server.url}/v1/threads/{thread_id}", timeout=10).json()
        prompt = [m["content"] for m in llm.stub.requests[-1]["messages"]]
        assert first in prompt and second in prompt and CUT_REPLY_NOTE in prompt
        roles = [(m["role"], m.get("interrupted", False)) for m in after["messages"]]
        assert roles == [
            ("user", False),
            ("assistant", True),  # the cut reply, visibly marked
            ("user", False),
            ("assistant", False),
        ]
        assert after["messages"][0]["content"] == first
        kept += 1
        llm.configure(**SLOW)
    assert kept == CYCLES


def test_the_killed_thread_takes_a_new_message_at_once_without_redis(
    tmp_path: Path, online_env: dict[str, str], llm: Any
) -> None:
    env = {"DATABASE_URL": "", "ESQUADRA_DATA_DIR": str(tmp_path), **online_env, "REDIS_URL": ""}
    llm.configure(**SLOW)
    with ServerProcess(env) as server:
        started = threading.Event()
        body = {"message": "oi", "thread_id": "t-lock"}
        reader = threading.Thread(
            target=_stream_until_first_token, args=(server.url, body, started)
        )
        reader.start()
        assert started.wait(20)
        server.kill()
        reader.join(10)
    llm.configure(**FAST)
    with ServerProcess(env) as server:
        began = time.monotonic()
        reply = httpx.post(
            f"{server.url}/v1/chat",
            json={"message": "ainda aí?", "thread_id": "t-lock"},
            headers={"accept": "application/json"},
            timeout=30,
        )
        assert reply.status_code == 200 and time.monotonic() - began < 10
