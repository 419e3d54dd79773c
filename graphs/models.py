"""Chat models for the squad: one `ChatOpenAI` per agent, or None when running offline."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx2
import openai
from langchain_openai import ChatOpenAI
from openai.types.chat import ChatCompletionChunk

from graphs.schema import Agent, ModelProfile


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


def new_http_client() -> openai.DefaultAsyncHttpxClient:
    """One connection pool per squad, closed with it, on aiohttp (the SDK's `aiohttp` option).

    aiohttp reads a streamed reply for about half the CPU of the default httpx transport, whose
    per-read cancel scopes showed up as the largest item under load. One pool per squad because
    langchain-openai otherwise caches a process-wide client bound to the first event loop that
    used it, which breaks any process that runs more than one loop (test clients, reloads).
    """
    return openai.DefaultAioHttpClient()


def build_chat_model(
    agent: Agent, profile: ModelProfile, endpoint: Endpoint, http_client: object
) -> ChatOpenAI:
    """An async-streaming client with the agent's own temperature and token budget."""
    return _chat_openai(
        endpoint,
        http_client,
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


def build_routing_model(
    profile: ModelProfile, endpoint: Endpoint, http_client: object
) -> ChatOpenAI:
    """The classifier's model: deterministic and short, since it only names an agent."""
    return _chat_openai(
        endpoint,
        http_client,
        temperature=0,
        max_tokens=60,  # type: ignore[call-arg]
        timeout=min(profile.timeout_s, 10.0),
        max_retries=0,
    )


class DictChunkAsyncOpenAI(openai.AsyncOpenAI):
    """The OpenAI client, except that streamed chat chunks stay the JSON dicts they arrive as.

    Turning every chunk into pydantic objects was a third of the event loop's time under load,
    and LangChain turns them straight back into dicts (`model_dump`) before reading them.
    Status codes, error payloads and transport failures are still raised by the SDK, which
    checks them before this hook runs. Not for the SDK's `beta...stream()` helper (structured
    output while streaming), which reads chunk attributes: no squad model streams with a
    `response_format` today (the router's structured call is not streamed).
    """

    def _process_response_data(  # type: ignore[override]
        self, *, data: object, cast_to: type[Any], response: httpx2.Response
    ) -> Any:
        if cast_to is ChatCompletionChunk and isinstance(data, dict):
            return data
        return super()._process_response_data(data=data, cast_to=cast_to, response=response)


def _chat_openai(endpoint: Endpoint, http_client: Any, **settings: Any) -> ChatOpenAI:
    client = DictChunkAsyncOpenAI(
        api_key=endpoint.api_key,
        base_url=endpoint.base_url,
        timeout=settings["timeout"],
        max_retries=settings["max_retries"],
        http_client=http_client,
    )
    return ChatOpenAI(
        root_async_client=client,
        async_client=client.chat.completions,
        http_async_client=http_client,
        model=endpoint.model,
        base_url=endpoint.base_url,
        api_key=endpoint.api_key,  # type: ignore[arg-type]
        **settings,
    )
