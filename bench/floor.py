"""The reference floor: the least a streaming chat endpoint can do with the same stub LLM.

One route, `POST /v1/chat`, relays the stub's tokens through `openai.AsyncOpenAI` as SSE
`token` events and ends with `done`. No graph, no storage, no routing: whatever Esquadra spends
above this is the price of its features.

    python -m bench.floor --port 8201 --llm-url http://127.0.0.1:8100/v1
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


async def _relay(client: Any, body: ChatBody, thread_id: str) -> AsyncIterator[tuple[str, dict]]:
    started = time.perf_counter()
    ttft_ms: int | None = None
    usage: dict[str, int] | None = None
    stream = await client.chat.completions.create(
        model=DEFAULT_MODEL,
        messages=[{"role": "user", "content": body.message}],
        stream=True,
        stream_options={"include_usage": True},
    )
    async for chunk in stream:
        if chunk.usage is not None:
            usage = {
                "input_tokens": chunk.usage.prompt_tokens,
                "output_tokens": chunk.usage.completion_tokens,
            }
        if chunk.choices and chunk.choices[0].delta.content:
            if ttft_ms is None:
                ttft_ms = round((time.perf_counter() - started) * 1000)
            yield "token", {"text": chunk.choices[0].delta.content}
    yield (
        "done",
        {
            "thread_id": thread_id,
            "usage": usage,
            "latency_ms": round((time.perf_counter() - started) * 1000),
            "ttft_ms": ttft_ms,
        },
    )


@post("/v1/chat", status_code=200)
async def chat(data: ChatBody, state: State) -> ServerSentEvent:
    """Stream the stub's reply to `data.message`."""
    thread_id = data.thread_id or uuid.uuid4().hex
    return ServerSentEvent(as_sse(_relay(state.llm, data, thread_id)))


def create_app() -> Litestar:
    """The floor app; one `AsyncOpenAI` client (one connection pool) per worker."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        from openai import AsyncOpenAI

        client = AsyncOpenAI(base_url=llm_base_url(), api_key="x", max_retries=0)
        app.state.llm = client
        try:
            yield
        finally:
            await client.close()

    quiet_logging()
    return Litestar(
        route_handlers=[chat, healthz],
        lifespan=[lifespan],
        openapi_config=None,
        logging_config=None,
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.floor --port P --llm-url URL [--workers W]`."""
    args = parse_args("python -m bench.floor", "The floor: bare streaming relay.", argv)
    serve("bench.floor:create_app", args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
