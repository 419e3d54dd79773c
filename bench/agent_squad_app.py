"""The PyPI `agent-squad` framework, as shipped, behind the same SSE contract as Esquadra.

One `OpenAIAgent` (streaming) pointed at the stub, an in-memory chat storage (the package's
default) and a one-agent classifier that picks that agent without an LLM call, so the
comparison is about serving a streamed reply, not about classification.

The package's `OpenAIAgent` streams with the *synchronous* `openai.OpenAI` client: iterating
the stream blocks the event loop for the whole reply. That is how it ships and is what this
benchmark measures; do not "fix" it here.

    python -m bench.agent_squad_app --port 8202 --llm-url http://127.0.0.1:8100/v1
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, post
from litestar.datastructures import State
from litestar.response import ServerSentEvent

from bench.serving import (
    DEFAULT_MODEL,
    ChatBody,
    as_sse,
    healthz,
    llm_base_url,
    parse_args,
    quiet_logging,
    serve,
)

AGENT_NAME = "Assistente"
AGENT_DESCRIPTION = "Assistente de pequenos negócios: finanças, marketing e RH."


def _single_agent_classifier() -> Any:
    """A `Classifier` that always returns the one registered agent, with no model call."""
    from agent_squad.classifiers import Classifier, ClassifierResult

    class SingleAgentClassifier(Classifier):
        async def process_request(self, input_text: str, chat_history: list) -> ClassifierResult:
            # `set_agents` (called by `AgentSquad.add_agent`) fills `self.agents`.
            agent = next(iter(self.agents.values()), None)
            return ClassifierResult(selected_agent=agent, confidence=1.0)

    return SingleAgentClassifier()


def build_squad(base_url: str) -> Any:
    """`AgentSquad` with one streaming `OpenAIAgent` whose client points at `base_url`."""
    from agent_squad.agents import OpenAIAgent, OpenAIAgentOptions
    from agent_squad.orchestrator import AgentSquad
    from openai import OpenAI

    squad = AgentSquad(classifier=_single_agent_classifier())
    agent = OpenAIAgent(
        OpenAIAgentOptions(
            name=AGENT_NAME,
            description=AGENT_DESCRIPTION,
            api_key="x",
            model=DEFAULT_MODEL,
            streaming=True,
            # The package accepts a ready client; it is the sync one because the package calls
            # `client.chat.completions.create(...)` without await.
            client=OpenAI(base_url=base_url, api_key="x", max_retries=0),
        )
    )
    squad.add_agent(agent)
    squad.set_default_agent(agent)
    return squad


async def _turn(squad: Any, body: ChatBody, thread_id: str) -> AsyncIterator[tuple[str, dict]]:
    started = time.perf_counter()
    ttft_ms: int | None = None
    response = await squad.route_request(
        body.message, body.user_id or "anon", thread_id, {}, stream_response=True
    )
    if not response.streaming:
        # Only the package's error path answers non-streamed here (our agent streams).
        yield "error", {"code": "agent_squad_error", "message": str(response.output)[:200]}
        return
    try:
        async for chunk in response.output:
            if chunk.text:
                if ttft_ms is None:
                    ttft_ms = round((time.perf_counter() - started) * 1000)
                yield "token", {"text": chunk.text}
    except Exception as exc:
        yield "error", {"code": "provider_error", "message": str(exc)[:200]}
        return
    yield (
        "done",
        {
            "thread_id": thread_id,
            "agent": response.metadata.agent_id,
            # The package does not ask for `stream_options.include_usage`: no usage to report.
            "usage": None,
            "latency_ms": round((time.perf_counter() - started) * 1000),
            "ttft_ms": ttft_ms,
        },
    )


@post("/v1/chat", status_code=200)
async def chat(data: ChatBody, state: State) -> ServerSentEvent:
    """Route the message through `AgentSquad.route_request` and stream the agent's reply."""
    thread_id = data.thread_id or uuid.uuid4().hex
    return ServerSentEvent(as_sse(_turn(state.squad, data, thread_id)))


def create_app() -> Litestar:
    """The agent-squad app; one `AgentSquad` (and its in-memory storage) per worker."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.squad = build_squad(llm_base_url())
        # After the import: agent_squad's basicConfig(INFO) ran inside build_squad.
        quiet_logging()
        yield

    return Litestar(
        route_handlers=[chat, healthz],
        lifespan=[lifespan],
        openapi_config=None,
        logging_config=None,
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.agent_squad_app --port P --llm-url URL [--workers W]`."""
    args = parse_args("python -m bench.agent_squad_app", "agent-squad as shipped.", argv)
    serve("bench.agent_squad_app:create_app", args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
