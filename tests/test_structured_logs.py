"""Structured logs (core/logs.py) and request ids (server/request_ids.py): JSON lines with the
request and thread ids, personal data masked, the same in every worker of `esquadra serve`."""

from __future__ import annotations

import json
import logging
import re
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import REDIS_TEST_URL, parse_sse
from server_process import ServerProcess

from core.logs import REQUEST_ID, THREAD_ID, JsonFormatter

CPF = "529.982.247-25"
PHONE = "(11) 98765-4321"
PHONE_DIGITS = "11987654321"
CPF_DIGITS = "52998224725"


def _record(message: str, *args: Any, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("esquadra.test", logging.WARNING, __file__, 1, message, args, exc_info)


def test_a_line_is_one_json_object_with_the_context_ids() -> None:
    request_token = REQUEST_ID.set("req-1")
    thread_token = THREAD_ID.set("padaria-1")
    try:
        line = JsonFormatter().format(_record("turn on thread %s", "padaria-1"))
    finally:
        REQUEST_ID.reset(request_token)
        THREAD_ID.reset(thread_token)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["level"] == "WARNING"
    assert parsed["logger"] == "esquadra.test"
    assert parsed["message"] == "turn on thread padaria-1"
    assert (parsed["request_id"], parsed["thread_id"]) == ("req-1", "padaria-1")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", parsed["timestamp"])


def test_personal_data_is_masked_in_message_exception_and_ids() -> None:
    try:
        raise ValueError(f"bad document {CPF} for ana@padaria.com.br")
    except ValueError as error:
        record = _record("message from %s: cpf %s", PHONE, CPF, exc=error)
    token = THREAD_ID.set(PHONE_DIGITS)  # a caller chose a phone number as the thread id
    try:
        line = JsonFormatter().format(record)
    finally:
        THREAD_ID.reset(token)
    for raw in (CPF, PHONE, PHONE_DIGITS, "98765-4321", "ana@padaria.com.br"):
        assert raw not in line
    parsed = json.loads(line)
    assert parsed["message"] == "message from <phone>: cpf <cpf>"
    assert "ValueError: bad document <cpf> for <email>" in parsed["exception"]


async def test_the_callers_request_id_comes_back_in_header_and_done(offline_client: Any) -> None:
    response = await offline_client.post(
        "/v1/chat", json={"message": "oi"}, headers={"X-Request-Id": "abc-123"}
    )
    assert response.headers["x-request-id"] == "abc-123"
    kind, data = parse_sse(response.text)[-1]
    assert (kind, data["request_id"]) == ("done", "abc-123")


async def test_the_json_reply_names_the_request(offline_client: Any) -> None:
    response = await offline_client.post(
        "/v1/chat",
        json={"message": "oi"},
        headers={"X-Request-Id": "abc-456", "Accept": "application/json"},
    )
    assert response.status_code == 200
    assert response.json()["request_id"] == "abc-456"


async def test_without_a_usable_request_id_one_is_made_up(offline_client: Any) -> None:
    given = await offline_client.post(
        "/v1/chat", json={"message": "oi"}, headers={"X-Request-Id": "bad id\twith tab"}
    )
    absent = await offline_client.post("/v1/chat", json={"message": "oi"})
    made = [r.headers["x-request-id"] for r in (given, absent)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", m) for m in made)
    assert made[0] != made[1]
    assert parse_sse(absent.text)[-1][1]["request_id"] == made[1]


async def test_an_error_response_carries_the_request_id_header(offline_client: Any) -> None:
    response = await offline_client.post(
        "/v1/chat", json={"message": "  "}, headers={"X-Request-Id": "abc-789"}
    )
    assert response.status_code == 400
    assert response.headers["x-request-id"] == "abc-789"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Any]:
    from fakes.langsmith_receiver import run_langsmith_receiver

    with run_langsmith_receiver() as server:
        yield server


@pytest.fixture(scope="module")
def two_workers(
    postgres_url: str, receiver: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, Path]]:
    """`esquadra serve --workers 2 --log-level info` on Postgres and Redis, output to a file,
    tracing to the local LangSmith receiver; the messages of `_send_personal_messages` sent."""
    from conftest import require_service

    require_service("Redis", "127.0.0.1", 6379)
    output = tmp_path_factory.mktemp("logs") / "server.log"
    env = {
        "DATABASE_URL": postgres_url,
        "REDIS_URL": REDIS_TEST_URL,
        "ESQUADRA_REDIS_PREFIX": f"esquadra-test-{uuid.uuid4().hex[:8]}:",
        "ESQUADRA_OFFLINE": "1",
        "LANGSMITH_TRACING": "true",
        "LANGSMITH_ENDPOINT": receiver.url,
        "ESQUADRA_TRACE_SALT": "test-trace-salt-0123456789",
    }
    server = ServerProcess(env, workers=2, log_level="info", output=output)
    with server:
        _wait_for_both_workers(output)
        _send_personal_messages(server.url)
        yield server, output


def _wait_for_both_workers(output: Path, timeout_s: float = 120.0) -> None:
    """Both workers have opened the squad (each logs `squad ready` once)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pids = {line["pid"] for line in _lines(output) if "squad ready" in line["message"]}
        if len(pids) == 2:
            return
        time.sleep(0.2)
    raise AssertionError(f"the second worker never started:\n{output.read_text()[-3000:]}")


def _lines(output: Path) -> list[dict[str, Any]]:
    parsed = []
    for line in output.read_text(encoding="utf-8").splitlines():
        try:
            parsed.append(json.loads(line))
        except ValueError:
            continue  # test_every_line_is_json reports these
    return parsed


def _send_personal_messages(url: str) -> None:
    """Messages with a CPF and a phone, ids that are a phone and a CPF, over new connections
    (so both workers serve some)."""
    for n in range(6):
        with httpx.Client(base_url=url, timeout=60) as client:
            thread = f"{CPF_DIGITS}-{n}" if n % 2 else f"t{uuid.uuid4().hex[:8]}"
            response = client.post(
                "/v1/chat",
                json={
                    "message": f"meu cpf é {CPF} e meu telefone {PHONE}",
                    "thread_id": thread,
                    "user_id": PHONE_DIGITS,
                },
                headers={"X-Request-Id": PHONE_DIGITS if n % 3 == 0 else f"req-{n}"},
            )
            assert response.status_code == 200, response.text
            client.get(f"/v1/threads/{thread}")
            client.get(f"/v1/users/{PHONE_DIGITS}")


async def test_each_worker_sends_one_trace_per_turn(two_workers: Any, receiver: Any) -> None:
    """Each worker opens its own LangSmith client (after the spawn) and traces its turns."""
    await receiver.wait_for(lambda r: sum(1 for root in r.roots() if root.get("end_time")) == 6)
    assert {root["name"] for root in receiver.roots()} == {"esquadra.turn"}
    raw = receiver.raw().decode("utf-8", errors="replace")
    for value in (CPF, CPF_DIGITS, PHONE, PHONE_DIGITS, "98765-4321"):
        assert value not in raw, f"{value} reached LangSmith"


def test_every_line_of_two_workers_is_json_without_personal_data(two_workers: Any) -> None:
    server, output = two_workers
    server.kill(signal.SIGTERM)  # the shutdown's lines too
    text = output.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert len(lines) > 10
    not_json = [line for line in lines if not _is_json_object(line)]
    assert not not_json, f"{len(not_json)} lines are not JSON, e.g. {not_json[:3]}"
    for raw in (CPF, CPF_DIGITS, PHONE, PHONE_DIGITS, "98765-4321"):
        assert raw not in text, f"{raw} is in the log"
    parsed = _lines(output)
    assert len({line["pid"] for line in parsed}) >= 2  # both workers log the same way
    access = [line for line in parsed if line["logger"] == "uvicorn.access"]
    chat = [line for line in access if line.get("path") == "/v1/chat"]
    assert len(chat) == 6
    assert {line["request_id"] for line in chat} >= {"req-1", "req-2", "<phone>"}
    assert all(line["thread_id"] for line in chat)


def _is_json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False
