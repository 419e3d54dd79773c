"""The server outlives what goes away mid-turn: clients that hang up, a Redis that dies."""

from __future__ import annotations

import json
import logging
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import parse_sse
from litestar.testing import AsyncTestClient
from redis.exceptions import ConnectionError as RedisConnectionError
from server_process import ServerProcess

from checkpointing.locks import AcquireMode, Lease, LocalThreadLocks
from server.gate import ThreadGate

HANGUPS = 200
CHAT_BODY = json.dumps(
    {"message": "Como faço o fluxo de caixa da minha padaria? Me explique passo a passo."}
).encode()


def _hang_up_mid_stream(port: int) -> bytes:
    """POST /v1/chat, read the stream up to its first event, then close the socket.

    Everything received is read, so the close is a FIN: the server, still writing tokens, gets
    an RST back for the first one and EPIPE (with SIGPIPE) for the next. Under SIGPIPE's default
    action that killed `esquadra serve` within the first 100 of these (exit -13).
    """
    received = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(
                b"POST /v1/chat HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\n"
                + f"Content-Length: {len(CHAT_BODY)}\r\n\r\n".encode()
                + CHAT_BODY
            )
            while b"event: route" not in received and (chunk := sock.recv(65536)):
                received += chunk
    except OSError as error:  # the server died under us: the assertions below say how
        return repr(error).encode()
    return received


def test_serve_survives_200_clients_hanging_up_mid_stream(tmp_path: Path) -> None:
    env = {
        "ESQUADRA_OFFLINE": "1",
        "ESQUADRA_DATA_DIR": str(tmp_path),
        "DATABASE_URL": "",
        "REDIS_URL": "",
    }
    server = ServerProcess(env).start(timeout_s=120)  # a loaded CI box takes > 30 s to start
    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            firsts = list(pool.map(_hang_up_mid_stream, [server.port] * HANGUPS))
        time.sleep(1.0)  # the turns' last writes land on the closed sockets
        assert server._proc is not None and server._proc.poll() is None, server._proc.returncode
        assert all(first.startswith(b"HTTP/1.1 200") for first in firsts), firsts[:3]
        assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
    finally:
        server.kill(signal.SIGTERM)


@pytest.mark.parametrize(
    ("command", "run", "takes_sigpipe"),
    [
        (["serve"], "_serve", False),
        (["worker"], "_worker", False),
        (["chat"], "_chat", False),
        (["check"], "_check", True),
        (["graph"], "_graph", True),
    ],
)
def test_only_printing_commands_take_sigpipes_default_action(
    monkeypatch: pytest.MonkeyPatch, command: list[str], run: str, takes_sigpipe: bool
) -> None:
    from server import cli

    calls: list[tuple[int, Any]] = []
    monkeypatch.setattr(signal, "signal", lambda sig, action: calls.append((sig, action)))
    monkeypatch.setattr(cli, run, lambda args: 0)  # the command itself is not under test
    assert cli.main(command) == 0
    assert ((signal.SIGPIPE, signal.SIG_DFL) in calls) is takes_sigpipe


class ReleaseFails:
    """In-process locks whose release raises, as Redis dying during the turn makes it."""

    def __init__(self) -> None:
        self.inner = LocalThreadLocks()
        self.failed = 0

    async def acquire(
        self, thread_id: str, *, ttl_s: float, mode: AcquireMode, arrived_at: float | None = None
    ) -> Lease:
        held = await self.inner.acquire(thread_id, ttl_s=ttl_s, mode=mode, arrived_at=arrived_at)

        async def release() -> None:
            await held.release()
            self.failed += 1
            raise RedisConnectionError("Connection closed by server.")

        return Lease(thread_id, held.token, _release=release)

    async def join_burst(self, thread_id: str, request_id: str, text: str, ttl_s: float) -> str:
        return await self.inner.join_burst(thread_id, request_id, text, ttl_s)

    async def collect_burst(
        self, thread_id: str, request_id: str, window_s: float, max_s: float
    ) -> list[str]:
        return await self.inner.collect_burst(thread_id, request_id, window_s, max_s)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_a_lock_release_that_fails_after_the_reply_keeps_the_stream_whole(
    offline_client: AsyncTestClient, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    gate: ThreadGate = offline_client.app.state.chat.hooks.gate
    locks = ReleaseFails()
    monkeypatch.setattr(gate, "locks", locks)
    with caplog.at_level(logging.ERROR, logger="esquadra.gate"):
        response = await offline_client.post(
            "/v1/chat", json={"message": "oi", "thread_id": "redis-caiu-1"}
        )
    assert response.status_code == 200
    assert response.text.endswith("\r\n\r\n")  # the chunked stream ended cleanly
    events = parse_sse(response.text)
    assert [kind for kind, _ in events][-1] == "done", events
    assert locks.failed == 1
    assert any("redis-caiu-1" in r.getMessage() for r in caplog.records), caplog.records
