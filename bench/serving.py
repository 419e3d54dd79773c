"""Shared plumbing for the comparison servers (`bench.floor`, `bench.agent_squad_app`).

Both take the same request body as Esquadra's `POST /v1/chat`, speak the same SSE events and are
served by uvicorn configured the fast way (uvloop, httptools, no access log), so that the only
difference between them and Esquadra is what happens inside the handler.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from litestar import get
from litestar.response import ServerSentEventMessage

# Workers are separate processes started from an import string, so the stub URL reaches them
# through the environment rather than through a closure.
LLM_URL_ENV = "BENCH_LLM_URL"
DEFAULT_MODEL = "stub"


@dataclass
class ChatBody:
    """The body of Esquadra's `POST /v1/chat`."""

    message: str
    thread_id: str | None = None
    user_id: str | None = None
    channel: str = "api"


@get("/healthz")
async def healthz() -> dict[str, str]:
    """Readiness probe used by the runner."""
    return {"status": "ok"}


def sse(kind: str, data: dict[str, Any]) -> ServerSentEventMessage:
    """One SSE event with a JSON payload, encoded the way Esquadra's routes encode it."""
    return ServerSentEventMessage(event=kind, data=json.dumps(data, ensure_ascii=False))


async def as_sse(events: AsyncIterator[tuple[str, dict[str, Any]]]) -> AsyncIterator[Any]:
    """Adapt a stream of `(kind, data)` pairs to Litestar SSE messages."""
    async for kind, data in events:
        yield sse(kind, data)


def quiet_logging() -> None:
    """No per-request log lines: an INFO line per upstream call is CPU we do not want to measure.

    (`agent_squad` calls `logging.basicConfig(level=INFO)` at import, which would otherwise make
    the OpenAI client's HTTP logger print one line per request.)
    """
    logging.getLogger().setLevel(logging.WARNING)
    for name in ("httpx", "httpx2", "openai", "agent_squad"):
        logging.getLogger(name).setLevel(logging.WARNING)


def llm_base_url() -> str:
    """The OpenAI `base_url` (ending in /v1) of the stub this worker talks to."""
    url = os.environ.get(LLM_URL_ENV, "http://127.0.0.1:8100/v1").rstrip("/")
    return url if url.endswith("/v1") else f"{url}/v1"


def parse_args(prog: str, description: str, argv: list[str] | None) -> argparse.Namespace:
    """The common CLI: `--host --port --llm-url --workers`."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8200)
    parser.add_argument("--llm-url", required=True, help="stub LLM base URL (…/v1)")
    parser.add_argument("--workers", type=int, default=1)
    return parser.parse_args(argv)


def serve(factory: str, args: argparse.Namespace) -> None:
    """Run `factory` (an import string) under uvicorn, configured like a tuned production server."""
    import uvicorn

    os.environ[LLM_URL_ENV] = args.llm_url
    uvicorn.run(
        factory,
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        # Same reason as the stub: idle keep-alive sockets between think times must stay open.
        timeout_keep_alive=75,
        backlog=4096,
    )
