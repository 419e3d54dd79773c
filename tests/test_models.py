"""The squad's chat models: the real ChatOpenAI against the stub, tokens merged in time windows,
and a failed start sending no more requests than the SDK alone would."""

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


async def stream_reply(online_env: dict[str, str], fast_path: bool = True) -> list[Any]:
    spec = load_spec(SQUAD_YAML).spec
    agent = spec.agent("leo")
    profile = spec.models[agent.model]
    http_client = new_http_client(fast_path)
    try:
        model = build_chat_model(
            agent,
            profile,
            resolve_endpoint(profile, online_env),
            http_client,
            fast_path=fast_path,
        )
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


async def open_lean(online_env: dict[str, str], max_retries: int = 2) -> tuple[Any, Any]:
    from llm.lean_stream import LeanStreams, SharedSession

    spec = load_spec(SQUAD_YAML).spec
    profile = spec.models[spec.agent("leo").model]
    endpoint = resolve_endpoint(profile, online_env)
    client = openai.AsyncOpenAI(
        api_key=endpoint.api_key, base_url=endpoint.base_url, max_retries=max_retries
    )
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


async def test_a_failed_start_without_retries_left_raises_the_sdks_error(
    online_env: dict[str, str], llm: Any
) -> None:
    llm.configure(replies=[REPLY], fail_status=500, fail_count=1)
    with pytest.raises(openai.InternalServerError, match="HTTP 500"):
        await open_lean(online_env, max_retries=0)
    assert len(llm.stub.requests) == 1


async def sdk_alone_requests(llm: Any, max_retries: int) -> tuple[int, BaseException]:
    """Requests the bare SDK sends for one failing streamed call, and what it raises."""
    client = openai.AsyncOpenAI(api_key="k", base_url=llm.url, max_retries=max_retries)
    before = len(llm.stub.requests)
    try:
        with pytest.raises(openai.APIStatusError) as raised:
            await client.chat.completions.create(
                model="stub-1", messages=[{"role": "user", "content": "oi"}], stream=True
            )
    finally:
        await client.close()
    return len(llm.stub.requests) - before, raised.value


@pytest.mark.parametrize(("status", "attempts"), [(429, 2), (500, 2), (400, 1)])
async def test_a_failed_start_sends_what_the_sdk_alone_sends(
    online_env: dict[str, str], llm: Any, status: int, attempts: int
) -> None:
    """The fast path's attempt is the SDK's first: a 429 is 1 + max_retries requests, not 3."""
    profile = load_spec(SQUAD_YAML).spec.models["default"]
    assert profile.max_retries == 1  # `attempts` above counts on it
    failing = {"fail_status": status, "fail_count": 10, "fail_retry_after_ms": 1}
    llm.configure(**failing)
    sdk_count, sdk_error = await sdk_alone_requests(llm, profile.max_retries)
    counts, errors = {}, {}
    for fast_path in (True, False):
        llm.configure(**failing)
        before = len(llm.stub.requests)
        with pytest.raises(openai.APIStatusError) as raised:
            await stream_reply(online_env, fast_path=fast_path)
        counts[fast_path] = len(llm.stub.requests) - before
        errors[fast_path] = raised.value
    assert sdk_count == attempts
    assert counts == {True: sdk_count, False: sdk_count}
    for error in errors.values():  # the SDK's error (LangChain may subclass it), same message
        assert isinstance(error, type(sdk_error))
        assert (error.status_code, error.message) == (sdk_error.status_code, sdk_error.message)


async def test_a_failed_start_then_the_sdks_retry_succeeds(
    online_env: dict[str, str], llm: Any
) -> None:
    llm.configure(replies=[REPLY], fail_status=429, fail_count=1, fail_retry_after_ms=1)
    chunks = await stream_reply(online_env)
    assert "".join(c.content for c in chunks if c.content) == REPLY
    assert len(llm.stub.requests) == 2


async def test_a_refused_connection_is_the_sdks_connection_error(
    online_env: dict[str, str],
) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**online_env, "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1"}
    for fast_path in (True, False):
        with pytest.raises(openai.APIConnectionError):
            await stream_reply(env, fast_path=fast_path)


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
