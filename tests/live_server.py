"""Serve an ASGI app with the real uvicorn in a background thread (same process, so tests can
observe it), for tests that need truly concurrent HTTP requests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import uvicorn

from fakes.serving import bind, serve_in_thread


@contextlib.contextmanager
def live_server(app: Any) -> Iterator[str]:
    sock = bind()
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    with serve_in_thread(
        config, sock, f"live-server:{port}", start_timeout_s=60, stop_timeout_s=15
    ):
        yield f"http://127.0.0.1:{port}"
