"""Chat models for the squad: one `ChatOpenAI` per agent, or None when running offline.

With `fast_path` (the default; `ESQUADRA_MODEL_FAST_PATH=0` turns it off) the models stream
through the lean aiohttp path with content deltas coalesced, injected as ChatOpenAI's
`async_client`, and cache their invocation parameters (`_dict_for_compat`): private members of
langchain-openai and langchain-core, pinned in pyproject.toml and guarded by
`tests/test_model_contracts.py` (docs/architecture.md, "Private members we rely on"). Without
it they are plain `ChatOpenAI` on the SDK.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import openai
from langchain_openai import ChatOpenAI
from pydantic import PrivateAttr

from graphs.schema import Agent, ModelProfile
from llm.lean_stream import LeanStreams, SharedSession


@dataclass(frozen=True)
class Endpoint:
    """Where a model profile points once the environment is read."""

    model: str
    base_url: str | None
    api_key: str | None

    @property
    def online(self) -> bool:
        return bool(self.api_key)


def resolve_endpoint(profile: ModelProfile, environ: Mapping[str, str]) -> Endpoint:
    """Read the profile's env vars; no API key means the profile is offline."""
    model = (environ.get(profile.model_env) if profile.model_env else None) or profile.model
    return Endpoint(
        model=model,
        base_url=environ.get(profile.base_url_env) or None,
        api_key=environ.get(profile.api_key_env) or None,
    )


class SquadHttpClient(openai.DefaultAioHttpClient):
    """The SDK's aiohttp client, plus the session of the streaming fast path (closed with it)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lean_session = SharedSession()

    async def aclose(self) -> None:
        await self.lean_session.aclose()
        await super().aclose()


def new_http_client(fast_path: bool = True) -> openai.DefaultAsyncHttpxClient:
    """One connection pool per squad, closed with it, on aiohttp (the SDK's `aiohttp` option);
    with `fast_path`, plus the fast path's aiohttp session.

    aiohttp reads a streamed reply for about half the CPU of the default httpx transport, whose
    per-read cancel scopes showed up as the largest item under load. One pool per squad because
    langchain-openai otherwise caches a process-wide client bound to the first event loop that
    used it, which breaks any process that runs more than one loop (test clients, reloads).
    """
    return SquadHttpClient() if fast_path else openai.DefaultAioHttpClient()


def build_chat_model(
    agent: Agent,
    profile: ModelProfile,
    endpoint: Endpoint,
    http_client: object,
    *,
    fast_path: bool = True,
) -> ChatOpenAI:
    """An async-streaming client with the agent's own temperature and token budget."""
    return _chat_openai(
        endpoint,
        http_client,
        fast_path,
        temperature=agent.temperature,
        max_tokens=agent.max_tokens,  # type: ignore[call-arg]
        timeout=profile.timeout_s,
        max_retries=profile.max_retries,
        streaming=True,
        stream_usage=True,
        # LangChain's per-chunk guard wraps every chunk in `asyncio.wait_for` (a task and a
        # timer per token, ~4% of the event loop under load). The agent node bounds the whole
        # reply by `timeout_s` instead, and the transport's read timeout bounds a silent socket.
        stream_chunk_timeout=None,
    )


def build_profile_model(
    profile: ModelProfile, endpoint: Endpoint, http_client: object, *, fast_path: bool = True
) -> ChatOpenAI:
    """One model per profile for the live registry: the agent's temperature and max_tokens are
    sent with each call (`astream(prompt, temperature=…, max_tokens=…)`), so editing them
    builds no client."""
    return _chat_openai(
        endpoint,
        http_client,
        fast_path,
        timeout=profile.timeout_s,
        max_retries=profile.max_retries,
        streaming=True,
        stream_usage=True,
        stream_chunk_timeout=None,  # as in build_chat_model: the node bounds the whole reply
    )


def build_routing_model(
    profile: ModelProfile, endpoint: Endpoint, http_client: object, *, fast_path: bool = True
) -> ChatOpenAI:
    """The classifier's model: deterministic and short, since it only names an agent."""
    return _chat_openai(
        endpoint,
        http_client,
        fast_path,
        temperature=0,
        max_tokens=60,  # type: ignore[call-arg]
        timeout=min(profile.timeout_s, 10.0),
        max_retries=0,
    )


# Content deltas arriving within this window reach LangChain as one chunk. Every chunk costs
# LangChain a message object, a generation object and a callback round, and the squad a stream
# event and an SSE frame; a reader sees no difference at 20 updates a second. The first
# content delta is never held back, and a held one goes out with the next chunk or at the end.
COALESCE_S = 0.05


class CoalescingCompletions:
    """`client.chat.completions`, except that a stream takes the fast path when it can and
    merges content deltas within `COALESCE_S` (given to ChatOpenAI as its `async_client`;
    everything else is the SDK's). Chunks from the SDK (a request the fast path does not take,
    or the retries after a failed start) are pydantic objects and pass through unmerged."""

    def __init__(
        self, completions: Any, lean: LeanStreams | None = None, window_s: float = COALESCE_S
    ) -> None:
        self._completions = completions
        self._lean = lean
        self._window_s = window_s

    async def create(self, **params: Any) -> Any:
        if self._lean is not None and self._lean.takes(params):
            response = await self._lean.open(params)  # its retries, if any, are the SDK's
        else:
            response = await self._completions.create(**params)
        if params.get("stream") and self._window_s > 0:
            return CoalescedStream(response, self._window_s)
        return response

    def __getattr__(self, name: str) -> Any:  # with_raw_response, parse, …
        return getattr(self._completions, name)


class CoalescedStream:
    """A chat stream (the fast path's dict chunks), content-only deltas merged in time windows."""

    def __init__(self, stream: Any, window_s: float) -> None:
        self._stream = stream
        self._window_s = window_s
        self.response = getattr(stream, "response", None)

    async def __aenter__(self) -> CoalescedStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._stream.close()

    async def __aiter__(self) -> AsyncIterator[Any]:
        pending: dict[str, Any] | None = None  # a held content chunk, extended in place
        sent_at = -1e9
        clock = time.monotonic
        async for chunk in self._stream:
            delta = _content_delta(chunk)
            if delta is None:  # role, tool calls, finish, usage: in order, never merged
                if pending is not None:
                    yield pending
                    pending = None
                yield chunk
                continue
            if pending is None:
                pending = chunk
            else:
                held = pending["choices"][0]["delta"]
                held["content"] += delta["content"]
            now = clock()
            if now - sent_at >= self._window_s:
                yield pending
                pending = None
                sent_at = now
        if pending is not None:
            yield pending


def _content_delta(chunk: Any) -> dict[str, Any] | None:
    """The delta of a chunk that only adds text to one choice, else None."""
    if not isinstance(chunk, dict) or chunk.get("usage"):
        return None
    choices = chunk.get("choices")
    if not choices or len(choices) != 1:
        return None
    choice = choices[0]
    if choice.get("finish_reason") is not None or choice.get("logprobs") is not None:
        return None
    delta = choice.get("delta")
    if not isinstance(delta, dict) or not isinstance(delta.get("content"), str):
        return None
    if not delta["content"] or any(
        value is not None for key, value in delta.items() if key not in _TEXT_ONLY_KEYS
    ):
        return None
    return delta


_TEXT_ONLY_KEYS = frozenset({"content", "role"})


class SquadChatOpenAI(ChatOpenAI):
    """ChatOpenAI whose invocation parameters (for callbacks and traces) are computed once.

    LangChain rebuilds them from `self.dict()` on every call — a pydantic dump of the whole
    client, ~2% of the worker under load — though the model's settings never change.
    """

    _compat_dict: dict[str, Any] | None = PrivateAttr(default=None)

    def _dict_for_compat(self) -> dict[str, Any]:
        if self._compat_dict is None:
            self._compat_dict = super()._dict_for_compat()
        return dict(self._compat_dict)


def _chat_openai(
    endpoint: Endpoint, http_client: Any, fast_path: bool, **settings: Any
) -> ChatOpenAI:
    if not fast_path:  # the SDK alone, through ChatOpenAI's public parameters only
        return ChatOpenAI(
            http_async_client=http_client,
            model=endpoint.model,
            base_url=endpoint.base_url,
            api_key=endpoint.api_key,  # type: ignore[arg-type]
            **settings,
        )
    client = openai.AsyncOpenAI(
        api_key=endpoint.api_key,
        base_url=endpoint.base_url,
        timeout=settings["timeout"],
        max_retries=settings["max_retries"],
        http_client=http_client,
    )
    session = getattr(http_client, "lean_session", None)
    lean = LeanStreams(client, settings["timeout"], session) if session is not None else None
    return SquadChatOpenAI(
        root_async_client=client,
        async_client=CoalescingCompletions(client.chat.completions, lean),
        http_async_client=http_client,
        model=endpoint.model,
        base_url=endpoint.base_url,
        api_key=endpoint.api_key,  # type: ignore[arg-type]
        **settings,
    )
