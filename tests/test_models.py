"""The squad's chat models: the real ChatOpenAI against the stub, tokens merged in time windows."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from conftest import SQUAD_YAML
from langchain_core.messages import HumanMessage

from graphs.loader import load_spec
from llm.models import build_chat_model, new_http_client, resolve_endpoint

REPLY = "Bom dia! Posso ajudar com o caixa, o Simples e o PIX da padaria hoje mesmo."


async def stream_reply(online_env: dict[str, str]) -> list[Any]:
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
    chunks = await stream_reply(online_env)
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
    chunks = await stream_reply(online_env)
    texts = [c.content for c in chunks if c.content]
    assert "".join(texts) == REPLY
    assert len(texts) == len(REPLY.split())


async def open_lean(online_env: dict[str, str]) -> tuple[Any, Any]:
    from llm.lean_stream import LeanStreams, SharedSession

    spec = load_spec(SQUAD_YAML).spec
    profile = spec.models[spec.agent("leo").model]
    endpoint = resolve_endpoint(profile, online_env)
    client = openai.AsyncOpenAI(api_key=endpoint.api_key, base_url=endpoint.base_url)
    session = SharedSession()
    lean = LeanStreams(client, profile.timeout_s, session)
    params = {
        "model": endpoint.model,
        "messages": [{"role": "user", "content": "oi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    return await lean.open(params), session


async def test_the_fast_path_reads_the_stream_as_dicts(
    online_env: dict[str, str], llm: Any
) -> None:
    llm.configure(replies=[REPLY])
    stream, session = await open_lean(online_env)
    try:
        async with stream:
            chunks = [chunk async for chunk in stream]
    finally:
        await session.aclose()
    text = "".join(
        c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices")
    )
    assert text == REPLY
    assert chunks[-1]["usage"]["completion_tokens"] == len(REPLY.split())


async def test_a_reply_that_fails_to_start_is_left_to_the_sdk(
    online_env: dict[str, str], llm: Any
) -> None:
    llm.configure(replies=[REPLY], fail_status=500, fail_count=1)
    stream, session = await open_lean(online_env)
    await session.aclose()
    assert stream is None
    # Through the model: the fast path's failed start, then the SDK's own attempt succeeds.
    llm.configure(replies=[REPLY], fail_status=500, fail_count=1)
    before = len(llm.stub.requests)
    chunks = await stream_reply(online_env)
    assert "".join(c.content for c in chunks if c.content) == REPLY
    assert len(llm.stub.requests) - before == 2


async def test_a_broken_stream_is_the_sdks_connection_error(
    online_env: dict[str, str], llm: Any
) -> None:
    llm.configure(replies=[REPLY], fail_after_tokens=3)
    with pytest.raises(openai.APIConnectionError):
        await stream_reply(online_env)


class _Blocks:
    """What aiohttp hands the fast path: the socket's bytes in arbitrary pieces."""

    def __init__(self, data: bytes, size: int) -> None:
        self._pieces = [data[i : i + size] for i in range(0, len(data), size)]

    async def iter_any(self) -> Any:
        for piece in self._pieces:
            yield piece


async def test_events_split_anywhere_by_the_socket_are_read_whole() -> None:
    import httpx2

    from llm.lean_stream import LeanStream

    frames = [{"choices": [{"delta": {"content": f"palavra{i} ação "}}]} for i in range(5)]
    raw = b"".join(b"data: " + json.dumps(f).encode() + b"\r\n\r\n" for f in frames)
    raw += b": keep-alive\r\n\r\ndata: [DONE]\r\n\r\n"
    for size in (1, 7, 64, len(raw)):
        response = type("R", (), {"content": _Blocks(raw, size), "release": lambda self: None})()
        stream = LeanStream(response, httpx2.Request("POST", "http://127.0.0.1/v1"))  # type: ignore[arg-type]
        assert [chunk async for chunk in stream] == frames
