"""Chat models for the squad: one `ChatOpenAI` per agent, or None when running offline."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import openai
from langchain_openai import ChatOpenAI

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
    """One connection pool per squad, closed with it.

    langchain-openai otherwise caches a process-wide client bound to the first event loop that
    used it, which breaks any process that runs more than one loop (test clients, reloads).
    """
    return openai.DefaultAsyncHttpxClient()


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


def _chat_openai(endpoint: Endpoint, http_client: object, **settings: Any) -> ChatOpenAI:
    return ChatOpenAI(
        http_async_client=http_client,
        model=endpoint.model,
        base_url=endpoint.base_url,
        api_key=endpoint.api_key,  # type: ignore[arg-type]
        **settings,
    )
