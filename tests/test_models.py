"""The squad's chat models: the real ChatOpenAI against the stub, tokens merged in time windows."""

from __future__ import annotations

from typing import Any

from conftest import SQUAD_YAML
from langchain_core.messages import HumanMessage

from graphs.loader import load_spec
from graphs.models import build_chat_model, new_http_client, resolve_endpoint

REPLY = "Bom dia! Posso ajudar com o caixa, o Simples e o PIX da padaria hoje mesmo."


async def stream(online_env: dict[str, str]) -> list[Any]:
    spec = load_spec(SQUAD_YAML).spec
    agent = spec.agent("leo")
    profile = spec.models[agent.model]
    http_client = new_http_client()
    try:
        model = build_chat_model(agent, profile, resolve_endpoint(profile, online_env), http_client)
        return [chunk async for chunk in model.astream([HumanMessage(content="oi")])]
    finally:
        await http_client.aclose()


async def test_tokens_within_the_window_reach_langchain_as_one_chunk(
    online_env: dict[str, str], llm: Any
) -> None:
    llm.configure(replies=[REPLY], first_token_ms=20, token_interval_ms=5)
    chunks = await stream(online_env)
    texts = [c.content for c in chunks if c.content]
    assert "".join(texts) == REPLY
    assert texts[0].strip() == "Bom"  # the first token is never held back
    assert len(texts) < len(REPLY.split()) // 2
    usage = [c.usage_metadata for c in chunks if c.usage_metadata]
    assert usage[-1]["output_tokens"] == len(REPLY.split())


async def test_tokens_slower_than_the_window_stay_apart(
    online_env: dict[str, str], llm: Any
) -> None:
    llm.configure(replies=[REPLY], first_token_ms=20, token_interval_ms=60)
    chunks = await stream(online_env)
    texts = [c.content for c in chunks if c.content]
    assert "".join(texts) == REPLY
    assert len(texts) == len(REPLY.split())
