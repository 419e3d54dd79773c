"""The HTTP API: the SSE contract, JSON replies, threads, health, and bad input never a 500."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from conftest import chat, copy_squad, memory_settings
from litestar.testing import AsyncTestClient

from server.app import create_app

LEO_MESSAGE = "Registre receita de R$ 1.500 da venda de hoje"


async def test_offline_stream_is_route_then_tokens_then_done(
    offline_client: AsyncTestClient,
) -> None:
    events = await chat(offline_client, message=LEO_MESSAGE, user_id="u-offline")
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "route" and kinds[-1] == "done"
    assert set(kinds[1:-1]) == {"token"}
    assert events[0][1]["agent"] == "leo"
    assert events[0][1]["candidates"][0]["agent"] == "leo"
    assert {"layer", "confidence"} <= set(events[0][1])
    done = events[-1][1]
    assert done["offline"] is True and done["agent"] == "leo"
    assert done["usage"] == {"input_tokens": 0, "output_tokens": 0}
    assert "R$ 1.500,00" in "".join(data["text"] for kind, data in events if kind == "token")
    assert done["pending_action"]["tool"] == "record_transaction"


async def test_stored_reply_equals_streamed_text(offline_client: AsyncTestClient) -> None:
    events = await chat(offline_client, message=LEO_MESSAGE, thread_id="loja-1")
    streamed = "".join(data["text"] for kind, data in events if kind == "token")
    thread = (await offline_client.get("/v1/threads/loja-1")).json()
    assert thread["messages"] == [
        {"role": "user", "content": LEO_MESSAGE, "agent": None},
        {"role": "assistant", "content": streamed, "agent": "leo"},
    ]


async def test_new_thread_id_is_generated_when_none_given(offline_client: AsyncTestClient) -> None:
    first = (await chat(offline_client, message="oi, tudo bem?"))[-1][1]["thread_id"]
    second = (await chat(offline_client, message="oi, tudo bem?"))[-1][1]["thread_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", first) and first != second


async def test_stream_with_model_reports_usage_and_cost(
    online_client: AsyncTestClient, llm: Any
) -> None:
    reply = "Anotei: receita de R$ 1.500,00 em Vendas, hoje."
    # Tokens 60 ms apart: slower than the coalescing window, so each is its own event.
    llm.configure(replies=[reply], first_token_ms=50, token_interval_ms=60)
    events = await chat(online_client, message=LEO_MESSAGE)
    tokens = [data["text"] for kind, data in events if kind == "token"]
    done = events[-1][1]
    assert events[-1][0] == "done"
    assert "".join(tokens) == reply
    assert len(tokens) == len(reply.split())
    assert done["offline"] is False
    output_tokens = done["usage"]["output_tokens"]
    assert done["usage"]["input_tokens"] > 0 and output_tokens == len(reply.split())
    # Prices of the default profile: US$ 0.15 / 0.60 per million tokens, R$ 5,40 per dollar.
    expected_usd = (done["usage"]["input_tokens"] * 0.15 + output_tokens * 0.60) / 1_000_000
    assert float(done["cost"]["usd"]) == pytest.approx(expected_usd, abs=1e-6)
    assert float(done["cost"]["brl"]) == pytest.approx(expected_usd * 5.4, abs=1e-6)
    assert re.fullmatch(r"\d+\.\d{6}", done["cost"]["usd"])
    assert done["ttft_ms"] >= 50 and done["latency_ms"] >= done["ttft_ms"]


async def test_tokens_arriving_together_go_out_as_one_event(
    online_client: AsyncTestClient, llm: Any
) -> None:
    reply = "Bom dia! Posso ajudar com o caixa, o Simples e o PIX da padaria."
    llm.configure(replies=[reply], first_token_ms=20, token_interval_ms=0)
    events = await chat(online_client, message=LEO_MESSAGE)
    tokens = [data["text"] for kind, data in events if kind == "token"]
    assert "".join(tokens) == reply
    assert 1 <= len(tokens) < len(reply.split()) // 2


async def test_yaml_temperature_and_max_tokens_reach_the_model(
    online_client: AsyncTestClient, llm: Any
) -> None:
    await chat(online_client, message="estagiária pode fazer 8h?")
    request = llm.stub.requests[-1]
    assert request["temperature"] == 0.5  # Lia's temperature in agents.yaml
    assert request["max_completion_tokens"] == 700
    assert request["stream_options"] == {"include_usage": True}


async def test_json_reply_when_client_accepts_json(offline_client: AsyncTestClient) -> None:
    response = await offline_client.post(
        "/v1/chat",
        json={"message": LEO_MESSAGE, "user_id": "u-json"},
        headers={"Accept": "application/json"},
    )
    body = response.json()
    assert response.status_code == 200
    assert body["agent"] == "leo" and body["route"]["agent"] == "leo"
    assert "R$ 1.500,00" in body["reply"]
    assert {"thread_id", "usage", "cost", "latency_ms", "ttft_ms", "offline"} <= set(body)
    assert body["pending_action"]["tool"] == "record_transaction"


async def test_provider_failure_mid_stream_is_an_error_event_and_keeps_the_message(
    online_client: AsyncTestClient, llm: Any
) -> None:
    llm.configure(replies=["Vou calcular o seu caixa agora mesmo"], fail_after_tokens=2)
    events = await chat(online_client, message="qual meu saldo de caixa?", thread_id="falha-1")
    assert events[-1][0] == "error"
    assert events[-1][1]["code"] == "provider_error"
    assert "done" not in [kind for kind, _ in events]
    thread = (await online_client.get("/v1/threads/falha-1")).json()
    assert thread["messages"] == [
        {"role": "user", "content": "qual meu saldo de caixa?", "agent": None}
    ]


async def test_provider_error_status_is_an_error_event(
    online_client: AsyncTestClient, llm: Any
) -> None:
    llm.configure(fail_status=500, fail_count=5)
    events = await chat(online_client, message="me ajuda com um post pro dia dos pais")
    assert events[-1] == ("error", events[-1][1]) and events[-1][1]["code"] == "provider_error"


async def test_thread_continues_after_a_provider_failure(
    online_client: AsyncTestClient, llm: Any
) -> None:
    llm.configure(fail_status=503, fail_count=5)
    await chat(online_client, message="quanto vendi hoje?", thread_id="falha-2")
    llm.reset()
    events = await chat(online_client, message="e ontem?", thread_id="falha-2")
    assert events[-1][0] == "done"
    messages = (await online_client.get("/v1/threads/falha-2")).json()["messages"]
    assert [m["role"] for m in messages] == ["user", "user", "assistant"]


async def test_slow_provider_times_out_as_an_error_event(
    tmp_path: Path, online_env: dict[str, str], llm: Any
) -> None:
    config = copy_squad(
        tmp_path, {"timeout_s: 30": "timeout_s: 0.5", "max_retries: 1": "max_retries: 0"}
    )
    llm.configure(first_token_ms=2000)
    async with AsyncTestClient(
        app=create_app(memory_settings(config), environ=online_env)
    ) as client:
        events = await chat(client, message=LEO_MESSAGE, thread_id="lento")
        messages = (await client.get("/v1/threads/lento")).json()["messages"]
    assert events[-1][0] == "error" and events[-1][1]["code"] == "provider_timeout"
    assert messages == [{"role": "user", "content": LEO_MESSAGE, "agent": None}]


async def test_a_reply_that_stalls_mid_stream_times_out_and_keeps_the_message(
    tmp_path: Path, online_env: dict[str, str], llm: Any
) -> None:
    config = copy_squad(
        tmp_path, {"timeout_s: 30": "timeout_s: 1.0", "max_retries: 1": "max_retries: 0"}
    )
    # The first token is quick; the whole reply would take 20 tokens x 300 ms = 6 s.
    llm.configure(first_token_ms=10, token_interval_ms=300, tokens=20)
    async with AsyncTestClient(
        app=create_app(memory_settings(config), environ=online_env)
    ) as client:
        events = await chat(client, message=LEO_MESSAGE, thread_id="arrastado")
        messages = (await client.get("/v1/threads/arrastado")).json()["messages"]
    assert [kind for kind, _ in events][1] == "token"
    assert events[-1][0] == "error" and events[-1][1]["code"] == "provider_timeout"
    assert messages == [{"role": "user", "content": LEO_MESSAGE, "agent": None}]


async def test_json_reply_on_provider_failure_is_502(
    online_client: AsyncTestClient, llm: Any
) -> None:
    llm.configure(fail_status=500, fail_count=5)
    response = await online_client.post(
        "/v1/chat", json={"message": "oi"}, headers={"Accept": "application/json"}
    )
    assert response.status_code == 502
    assert response.json()["code"] == "provider_error"


async def test_unknown_thread_is_404_json(offline_client: AsyncTestClient) -> None:
    response = await offline_client.get("/v1/threads/nao-existe")
    assert response.status_code == 404
    assert response.json()["code"] == "thread_not_found"


BAD_REQUESTS: list[tuple[str, dict[str, Any]]] = [
    ("empty message", {"json": {"message": ""}}),
    ("blank message", {"json": {"message": "   \n "}}),
    ("message over 8000 chars", {"json": {"message": "a" * 8001}}),
    ("missing message", {"json": {"thread_id": "x"}}),
    ("message not a string", {"json": {"message": 1500}}),
    ("thread id not a string", {"json": {"message": "oi", "thread_id": 7}}),
    ("thread id with spaces", {"json": {"message": "oi", "thread_id": "a b"}}),
    ("thread id too long", {"json": {"message": "oi", "thread_id": "x" * 200}}),
    ("unknown channel", {"json": {"message": "oi", "channel": "telegram"}}),
    ("unknown field", {"json": {"message": "oi", "mensagem": "oi"}}),
    ("body is a list", {"json": ["oi"]}),
    ("body is null", {"content": b"null", "headers": {"content-type": "application/json"}}),
    ("invalid json", {"content": b"{message: oi", "headers": {"content-type": "application/json"}}),
    ("empty body", {"content": b"", "headers": {"content-type": "application/json"}}),
    (
        "binary garbage",
        {"content": b"\xff\xfe\x00", "headers": {"content-type": "application/json"}},
    ),
]


@pytest.mark.parametrize(("case", "request_kwargs"), BAD_REQUESTS, ids=[c for c, _ in BAD_REQUESTS])
async def test_bad_chat_input_is_a_4xx_with_code_and_message(
    offline_client: AsyncTestClient, case: str, request_kwargs: dict[str, Any]
) -> None:
    response = await offline_client.post("/v1/chat", **request_kwargs)
    assert 400 <= response.status_code < 500, (case, response.status_code, response.text)
    body = response.json()
    assert isinstance(body["code"], str) and body["code"]
    assert isinstance(body["message"], str) and body["message"]
    assert "Traceback" not in response.text


async def test_message_of_exactly_8000_chars_is_accepted(offline_client: AsyncTestClient) -> None:
    events = await chat(offline_client, message="venda " * 1333 + "xy")
    assert events[-1][0] == "done"


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/v1/chat"), ("DELETE", "/healthz"), ("GET", "/nada")]
)
async def test_wrong_route_or_method_is_json(
    offline_client: AsyncTestClient, method: str, path: str
) -> None:
    response = await offline_client.request(method, path)
    assert response.status_code in (404, 405)
    assert set(response.json()) >= {"code", "message"}


async def test_healthz(offline_client: AsyncTestClient) -> None:
    assert (await offline_client.get("/healthz")).json() == {"status": "ok"}


async def test_readyz_reports_store_and_agents(offline_client: AsyncTestClient) -> None:
    body = (await offline_client.get("/readyz")).json()
    assert body["status"] == "ready"
    assert body["database"] == "ok" and body["redis"] == "not_configured"
    assert body["agents"] == ["leo", "max", "lia"]


async def test_readyz_pings_the_real_redis(redis_url: str) -> None:
    async with AsyncTestClient(
        app=create_app(memory_settings(redis_url=redis_url), environ={})
    ) as client:
        response = await client.get("/readyz")
    assert response.status_code == 200 and response.json()["redis"] == "ok"


async def test_readyz_is_degraded_when_redis_is_unreachable() -> None:
    # Redis only holds what can be rebuilt: the squad still answers, so the process stays in
    # the load balancer (200) and says what is missing.
    settings = memory_settings(redis_url="redis://127.0.0.1:1/0")
    async with AsyncTestClient(app=create_app(settings, environ={})) as client:
        response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["redis"].startswith("error")


async def test_openapi_schema_lists_exactly_the_real_routes(
    offline_client: AsyncTestClient,
) -> None:
    schema = (await offline_client.get("/schema/openapi.json")).json()
    documented = {(method.upper(), path) for path, ops in schema["paths"].items() for method in ops}
    real = {
        (method, re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path))
        for route in offline_client.app.routes
        for method in route.methods  # type: ignore[attr-defined]
        if method not in ("OPTIONS", "HEAD")
        and not route.path.startswith("/schema")
        # the chat, admin and dashboard pages and their files are not part of the API
        and route.path not in ("/", "/admin", "/admin/dashboard")
        and not route.path.startswith("/static/")
    }
    assert documented == real
    chat_op = schema["paths"]["/v1/chat"]["post"]
    assert chat_op["requestBody"]["content"]["application/json"]["schema"]


async def test_event_stream_frames_and_headers(offline_client: AsyncTestClient) -> None:
    response = await offline_client.post("/v1/chat", json={"message": "@max ação de vendas?"})
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-thread-id"])
    frames = response.content.split(b"\r\n\r\n")
    assert frames[0].startswith(b"event: route\r\ndata: {")
    assert frames[-1] == b"" and frames[-2].startswith(b"event: done\r\ndata: {")
    assert "ção".encode() in response.content  # UTF-8 as is, not \u escapes
