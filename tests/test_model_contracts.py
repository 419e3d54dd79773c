"""Contracts of the model fast path (`llm/`) with the libraries whose internals it touches.

Each test names the library and member in its failure message: a minor release of openai,
langchain-openai or langchain-core that changes one of them must fail here, not in production.
The list, with the reason for each, is in docs/architecture.md ("Private members we rely on").
"""

from __future__ import annotations

import inspect
import random
import tomllib
from collections.abc import AsyncIterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
from conftest import SQUAD_YAML
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import HumanMessage
from langchain_openai import ChatOpenAI
from packaging.requirements import Requirement

from graphs.loader import load_spec
from llm import lean_stream
from llm.models import (
    SquadChatOpenAI,
    build_chat_model,
    new_http_client,
    resolve_endpoint,
)

PINNED = ("openai", "langchain-openai", "langchain-core", "httpx2", "aiohttp")


def broke(library: str, member: str, what: str) -> str:
    return (
        f"{library} {version(library)} changed {member}: {what}. The model fast path "
        "(llm/models.py, llm/lean_stream.py) relies on it; adapt it or run with "
        "ESQUADRA_MODEL_FAST_PATH=0, and update the pin in pyproject.toml."
    )


def test_installed_versions_are_within_the_pinned_ranges() -> None:
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    declared = {
        (req := Requirement(line)).name: req
        for line in tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    }
    for name in PINNED:
        assert name in declared, f"pyproject.toml does not declare {name}, which llm/ imports"
        installed = version(name)
        assert declared[name].specifier.contains(installed, prereleases=True), (
            f"{name} {installed} is outside the contract-tested range "
            f"{declared[name].specifier} (pyproject.toml); run tests/test_model_contracts.py "
            "against it before widening the range"
        )
    for name in ("openai", "langchain-openai", "langchain-core"):
        assert any(spec.operator == "<" for spec in declared[name].specifier), (
            f"{name} needs an upper bound in pyproject.toml: llm/ touches its internals"
        )


# ------------------------------------------------------------------ openai: retries, errors


def sdk_client(max_retries: int = 2) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        api_key="k", base_url="http://127.0.0.1:9/v1", max_retries=max_retries
    )


def reply(status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> httpx2.Response:
    request = httpx2.Request("POST", "http://127.0.0.1:9/v1/chat/completions")
    return httpx2.Response(status, headers=headers or {}, content=body, request=request)


RETRY_CASES = [
    (status, headers)
    for status in (400, 401, 403, 404, 408, 409, 418, 422, 429, 500, 502, 503)
    for headers in (
        {},
        {"x-should-retry": "true"},
        {"x-should-retry": "false"},
        {"retry-after": "3"},
        {"retry-after": "500"},
        {"retry-after-ms": "20"},
        {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"},
        {"retry-after": "1e400"},
        {"retry-after": "soon"},
    )
]


def test_the_retry_decision_is_the_sdks() -> None:
    client = sdk_client()
    assert hasattr(client, "_should_retry"), broke(
        "openai", "AsyncOpenAI._should_retry", "it is gone"
    )
    for status, headers in RETRY_CASES:
        response = reply(status, headers)
        assert lean_stream.should_retry(response) == client._should_retry(response), broke(
            "openai",
            "AsyncOpenAI._should_retry",
            f"it now answers {client._should_retry(response)} for {status} {headers}, "
            "unlike llm/lean_stream.should_retry",
        )


def test_the_first_back_off_is_the_sdks(monkeypatch: pytest.MonkeyPatch) -> None:
    from openai import _base_client, _constants
    from openai._models import FinalRequestOptions

    assert (_constants.INITIAL_RETRY_DELAY, _constants.MAX_RETRY_AFTER_DELAY) == (
        lean_stream.INITIAL_RETRY_DELAY_S,
        lean_stream.MAX_RETRY_AFTER_S,
    ), broke("openai", "_constants.INITIAL/MAX_RETRY_AFTER_DELAY", "new values")
    monkeypatch.setattr(_base_client, "random", lambda: 0.3)  # the SDK's jitter
    monkeypatch.setattr(random, "random", lambda: 0.3)  # ours
    client = sdk_client(max_retries=2)
    options = FinalRequestOptions(method="post", url="/chat/completions")
    for _, headers in RETRY_CASES:
        if "retry-after" in headers and not headers["retry-after"][0].isdigit():
            continue  # a date in the past or garbage: both fall back, covered below
        response = reply(429, headers)
        try:
            sdk = client._calculate_retry_timeout(2, options, response.headers)
        except (AttributeError, TypeError) as err:
            pytest.fail(broke("openai", "AsyncOpenAI._calculate_retry_timeout", str(err)))
        ours = lean_stream.first_retry_delay(response.headers)
        assert ours == pytest.approx(sdk), broke(
            "openai",
            "AsyncOpenAI._calculate_retry_timeout",
            f"first retry after {headers}: SDK {sdk}, llm/lean_stream.first_retry_delay {ours}",
        )
    assert lean_stream.first_retry_delay(None) == pytest.approx(
        client._calculate_retry_timeout(2, options, None)
    )


def test_a_failed_start_raises_the_sdks_exception() -> None:
    client = sdk_client()
    bodies = [
        b'{"error": {"message": "Rate limit reached", "type": "rate_limit_error"}}',
        b'{"detail": "not the OpenAI shape"}',
        b"upstream exploded",
        b"",
    ]
    for status in (400, 401, 403, 404, 409, 418, 422, 429, 500, 503):
        for body in bodies:
            sdk = client._make_status_error_from_response(reply(status, body=body))
            ours = lean_stream.status_error(reply(status, body=body))
            assert (type(ours), ours.message, ours.body, ours.status_code) == (
                type(sdk),
                sdk.message,
                sdk.body,
                sdk.status_code,
            ), broke(
                "openai",
                "AsyncOpenAI._make_status_error_from_response",
                f"{status} {body!r} → SDK {type(sdk).__name__}({sdk.message!r}), "
                f"llm/lean_stream.status_error {type(ours).__name__}({ours.message!r})",
            )


async def test_with_options_gives_a_client_with_fewer_retries_on_the_same_pool() -> None:
    http_client = openai.DefaultAioHttpClient()
    client = openai.AsyncOpenAI(api_key="k", base_url="http://x/v1", http_client=http_client)
    retries = client.with_options(max_retries=1)
    await http_client.aclose()
    assert retries.max_retries == 1, broke("openai", "AsyncOpenAI.with_options", "max_retries")
    assert retries._client is http_client, broke(
        "openai", "AsyncOpenAI.with_options", "the copy no longer shares the http_client"
    )
    assert "request" in inspect.signature(openai.APIConnectionError).parameters, broke(
        "openai", "APIConnectionError(request=)", "the constructor"
    )


# --------------------------------------------------- langchain-openai: the injected client


class FakeStream:
    def __init__(self, chunks: list[dict[str, Any]]) -> None:
        self._chunks = chunks

    async def __aenter__(self) -> FakeStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        for chunk in self._chunks:
            yield chunk


class FakeCompletions:
    """What ChatOpenAI gets as `async_client`: `create(**payload)` → a stream of dicts."""

    def __init__(self, chunks: list[dict[str, Any]]) -> None:
        self.payloads: list[dict[str, Any]] = []
        self._chunks = chunks

    async def create(self, **payload: Any) -> FakeStream:
        self.payloads.append(payload)
        return FakeStream(self._chunks)


def chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    """A streamed chunk as the wire (and the fast path) has it: the JSON dict."""
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "stub-1",
        "choices": choices,
        **extra,
    }


WIRE = [
    chunk({"role": "assistant", "content": ""}),
    chunk({"content": "Bom "}),
    chunk({"content": "dia"}),
    chunk({}, "stop"),
    chunk(None, usage={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}),
]


def injected_model(fake: Any, cls: type[ChatOpenAI] = ChatOpenAI) -> ChatOpenAI:
    root = sdk_client()
    model = cls(
        model="stub-1",
        api_key="k",  # type: ignore[arg-type]
        base_url="http://127.0.0.1:9/v1",
        root_async_client=root,
        async_client=fake,
        streaming=True,
        stream_usage=True,
        stream_chunk_timeout=None,
    )
    assert model.async_client is fake and model.root_async_client is root, broke(
        "langchain-openai",
        "ChatOpenAI(async_client=, root_async_client=)",
        "the injected clients are replaced at construction",
    )
    return model


async def test_chatopenai_streams_dict_chunks_from_the_injected_client() -> None:
    fields = ChatOpenAI.model_fields
    for name in ("async_client", "root_async_client", "http_async_client"):
        assert name in fields, broke("langchain-openai", f"ChatOpenAI.{name}", "field is gone")
    fake = FakeCompletions(WIRE)
    chunks = [c async for c in injected_model(fake).astream([HumanMessage("oi")])]
    merged = sum(chunks[1:], chunks[0])
    what = "streamed dict chunks from async_client.create are no longer read as before"
    assert merged.content == "Bom dia", broke("langchain-openai", "ChatOpenAI._astream", what)
    assert merged.response_metadata.get("finish_reason") == "stop", broke(
        "langchain-openai", "ChatOpenAI._astream", what
    )
    assert merged.usage_metadata is not None, broke("langchain-openai", "ChatOpenAI._astream", what)
    assert merged.usage_metadata["output_tokens"] == 2
    [payload] = fake.payloads
    assert payload.get("stream") is True
    lean = lean_stream.LeanStreams(sdk_client(), 30.0, lean_stream.SharedSession())
    assert lean.takes(payload), broke(
        "langchain-openai",
        "ChatOpenAI._get_request_payload",
        f"a streamed payload now carries {sorted(payload)}, which the fast path leaves to the SDK",
    )


# ------------------------------------------------------ langchain-core: invocation params


async def test_invocation_params_come_from_dict_for_compat(monkeypatch: pytest.MonkeyPatch) -> None:
    member = getattr(BaseChatModel, "_dict_for_compat", None)
    assert member is not None, broke("langchain-core", "BaseChatModel._dict_for_compat", "gone")
    assert list(inspect.signature(member).parameters) == ["self"], broke(
        "langchain-core", "BaseChatModel._dict_for_compat", "its signature"
    )
    dumps = 0
    original = SquadChatOpenAI.dict

    def counting_dict(self: Any, **kwargs: Any) -> Any:
        nonlocal dumps
        dumps += 1
        return original(self, **kwargs)

    monkeypatch.setattr(SquadChatOpenAI, "dict", counting_dict)
    model = injected_model(FakeCompletions(WIRE), SquadChatOpenAI)
    for _ in range(3):
        [c async for c in model.astream([HumanMessage("oi")])]
    assert dumps == 1, broke(
        "langchain-core",
        "BaseChatModel._get_invocation_params",
        f"it dumped the model {dumps} times in 3 calls: it no longer goes through "
        "_dict_for_compat, so SquadChatOpenAI's cache is bypassed",
    )


# ------------------------------------------------ behaviour: the same reply either way


async def stream(online_env: dict[str, str], fast_path: bool) -> Any:
    spec = load_spec(SQUAD_YAML).spec
    agent = spec.agent("leo")
    profile = spec.models[agent.model]
    http_client = new_http_client(fast_path)
    try:
        model = build_chat_model(
            agent, profile, resolve_endpoint(profile, online_env), http_client, fast_path=fast_path
        )
        assert isinstance(model, SquadChatOpenAI) == fast_path
        chunks = [c async for c in model.astream([HumanMessage("oi")])]
    finally:
        await http_client.aclose()
    return sum(chunks[1:], chunks[0])


async def test_the_same_reply_with_and_without_the_fast_path(
    online_env: dict[str, str], llm: Any
) -> None:
    text = "Bom dia! O caixa fecha às 18h; o PIX cai na hora, sem taxa para a padaria."
    replies = {}
    for fast_path in (True, False):
        llm.configure(replies=[text], token_interval_ms=1)
        replies[fast_path] = await stream(online_env, fast_path)
    on, off = replies[True], replies[False]
    assert on.content == off.content == text
    assert on.usage_metadata == off.usage_metadata
    assert on.usage_metadata["output_tokens"] == len(text.split())
    for key in ("finish_reason", "model_name"):
        assert on.response_metadata.get(key) == off.response_metadata.get(key), key
    assert on.response_metadata["finish_reason"] == "stop"
