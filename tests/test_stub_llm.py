"""Tests for the OpenAI-compatible stub LLM (fakes/stub_llm.py).

The stub stands in for the real provider in the API tests and the load benchmark,
so it is exercised here through the real ``ChatOpenAI`` client wherever possible.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import openai
import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI

from fakes.stub_llm import StubServer, run_stub_llm

PERGUNTA = "Qual o horário de funcionamento da padaria no domingo?"


@pytest.fixture
def srv() -> Iterator[StubServer]:
    with run_stub_llm() as server:
        yield server


def make_llm(srv: StubServer, **kwargs: object) -> ChatOpenAI:
    return ChatOpenAI(
        base_url=srv.url, api_key="x", model="stub-model", stream_usage=True, **kwargs
    )


def sse_events(body: str) -> list[str]:
    return [line.removeprefix("data: ") for line in body.split("\n\n") if line]


async def test_astream_yields_reply_text_and_usage(srv: StubServer) -> None:
    reply = "A padaria abre das 7h às 12h aos domingos."
    srv.stub.config.replies = [reply]

    chunks = [chunk async for chunk in make_llm(srv).astream([HumanMessage(PERGUNTA)])]

    assert "".join(str(c.content) for c in chunks) == reply
    usage = next(c.usage_metadata for c in chunks if c.usage_metadata)
    # 9 words in the question -> ceil(9 * 4 / 3) = 12; one chunk per word of the reply.
    assert usage["input_tokens"] == 12
    assert usage["output_tokens"] == len(reply.split())
    assert usage["total_tokens"] == 12 + len(reply.split())


async def test_ainvoke_returns_full_reply_non_streaming(srv: StubServer) -> None:
    srv.stub.config.replies = ["Sim, entregamos no bairro Savassi até as 22h."]

    result = await make_llm(srv).ainvoke([HumanMessage("Vocês entregam na Savassi?")])

    assert result.content == "Sim, entregamos no bairro Savassi até as 22h."
    assert srv.stub.requests[-1]["stream"] is False


async def test_default_reply_quotes_last_user_message(srv: StubServer) -> None:
    result = await make_llm(srv).ainvoke(
        [SystemMessage("Você é o atendente da loja."), HumanMessage("Tem pão de queijo?")]
    )

    assert result.content == "Resposta simulada para: Tem pão de queijo?"


async def test_scripted_replies_are_used_in_order_then_default(srv: StubServer) -> None:
    srv.stub.config.replies = ["Bom dia! Como posso ajudar?", "O pedido sai em 20 minutos."]
    llm = make_llm(srv)

    first = await llm.ainvoke("Oi")
    second = await llm.ainvoke("Quando sai meu pedido?")
    third = await llm.ainvoke("Obrigado")

    assert first.content == "Bom dia! Como posso ajudar?"
    assert second.content == "O pedido sai em 20 minutos."
    assert third.content == "Resposta simulada para: Obrigado"


async def test_first_token_latency_is_applied(srv: StubServer) -> None:
    srv.configure(first_token_ms=200, replies=["Seu pedido foi confirmado."])

    start = time.perf_counter()
    first_token_at = None
    async for chunk in make_llm(srv).astream(PERGUNTA):
        if chunk.content and first_token_at is None:
            first_token_at = time.perf_counter() - start

    assert first_token_at is not None
    assert first_token_at >= 0.2


async def test_tokens_setting_controls_chunk_count(srv: StubServer) -> None:
    reply = "Cardápio do dia: feijoada completa."
    srv.configure(tokens=5, replies=[reply])

    chunks = [c async for c in make_llm(srv).astream(PERGUNTA) if c.content]

    assert len(chunks) == 5
    assert "".join(str(c.content) for c in chunks) == reply


async def test_fail_status_surfaces_as_api_status_error(srv: StubServer) -> None:
    srv.configure(fail_status=500)
    llm = make_llm(srv, max_retries=0)

    with pytest.raises(openai.InternalServerError) as excinfo:
        await llm.ainvoke(PERGUNTA)

    assert excinfo.value.status_code == 500
    # fail_count defaults to 1: the next request succeeds again.
    assert (await llm.ainvoke("Tudo certo?")).content == "Resposta simulada para: Tudo certo?"


async def test_fail_after_tokens_breaks_the_stream(srv: StubServer) -> None:
    srv.configure(fail_after_tokens=2, replies=["O motoboy já saiu para a entrega agora."])
    received: list[str] = []

    # openai wraps the transport's "incomplete chunked read" as a connection error.
    with pytest.raises(openai.APIConnectionError):
        async for chunk in make_llm(srv, max_retries=0).astream(PERGUNTA):
            received.append(str(chunk.content))

    assert "".join(received) == "O motoboy "


async def test_requests_record_sampling_params(srv: StubServer) -> None:
    llm = make_llm(srv, temperature=0.4, max_tokens=123)

    await llm.ainvoke([SystemMessage("Responda em português."), HumanMessage(PERGUNTA)])

    [recorded] = srv.stub.requests
    assert recorded["model"] == "stub-model"
    assert recorded["temperature"] == 0.4
    # langchain-openai renames max_tokens to the newer max_completion_tokens.
    assert recorded["max_completion_tokens"] == 123
    assert recorded["messages"][-1] == {"role": "user", "content": PERGUNTA}


async def test_reset_clears_records_and_config(srv: StubServer) -> None:
    srv.configure(replies=["Resposta roteirizada."], first_token_ms=50)
    await make_llm(srv).ainvoke(PERGUNTA)

    srv.reset()

    assert srv.stub.requests == []
    assert srv.stub.config.first_token_ms == 0
    assert srv.stub.config.replies == []


def test_raw_stream_shape_with_usage_and_done(srv: StubServer) -> None:
    srv.configure(replies=["Olá, tudo bem?"])
    payload = {
        "model": "stub-model",
        "messages": [{"role": "user", "content": "Oi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }

    resp = httpx.post(f"{srv.url}/chat/completions", json=payload)

    assert resp.headers["content-type"].startswith("text/event-stream")
    events = sse_events(resp.text)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    contents = [c["choices"][0]["delta"].get("content") for c in chunks[1:-2]]
    assert contents == ["Olá, ", "tudo ", "bem?"]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}


def test_control_api_over_http(srv: StubServer) -> None:
    with httpx.Client(base_url=srv.root_url) as http:
        assert http.post("/_stub/config", json={"replies": ["Pedido anotado."]}).status_code == 200
        completion = http.post(
            "/v1/chat/completions",
            json={"model": "stub-model", "messages": [{"role": "user", "content": "Um café"}]},
        ).json()
        recorded = http.get("/_stub/requests").json()
        deleted = http.delete("/_stub/requests").json()
        bad = http.post("/_stub/config", json={"tokens": 0})

    assert completion["choices"][0]["message"]["content"] == "Pedido anotado."
    assert completion["usage"]["completion_tokens"] == 2
    assert recorded[0]["messages"] == [{"role": "user", "content": "Um café"}]
    assert deleted == {"deleted": 1}
    assert srv.stub.requests == []
    assert bad.status_code == 400


def test_invalid_bodies_and_unknown_paths_get_openai_style_errors(srv: StubServer) -> None:
    with httpx.Client(base_url=srv.url) as http:
        not_json = http.post(
            "/chat/completions",
            content=b"{nao e json",
            headers={"content-type": "application/json"},
        )
        no_messages = http.post("/chat/completions", json={"model": "stub-model"})
        unknown = http.get("/embeddings")
        models = http.get("/models")

    assert not_json.status_code == 400
    assert not_json.json()["error"]["type"] == "invalid_request_error"
    assert no_messages.status_code == 400
    assert "messages" in no_messages.json()["error"]["message"]
    assert unknown.status_code == 404
    assert models.json()["data"][0]["id"] == "stub-model"
