"""Serve an ASGI app with the real uvicorn in a background thread of this process: the fakes at
the network edge (stub LLM, Graph API), the app in tests that need truly concurrent HTTP, and the
webhook benchmark all start and stop a server the same way."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import uvicorn


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening socket bound here: binding ourselves (instead of probing for a free port and
    letting uvicorn bind it later) leaves no window for another process to grab the port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


@contextlib.contextmanager
def serve_in_thread(
    config: uvicorn.Config,
    sock: socket.socket,
    name: str,
    *,
    start_timeout_s: float = 10.0,
    stop_timeout_s: float = 5.0,
) -> Iterator[uvicorn.Server]:
    """Run `config`'s app on `sock` until the block ends (the socket is closed after)."""
    server = uvicorn.Server(config)
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # SystemExit on startup failure included
            errors.append(exc)

    thread = threading.Thread(target=serve, name=name, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + start_timeout_s
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{name} failed to start: {errors}")
            time.sleep(0.005)
        yield server
    finally:
        server.should_exit = True
        thread.join(timeout=stop_timeout_s)
        if thread.is_alive():
            # A client still holding a slow stream open would otherwise block exit.
            server.force_exit = True
            thread.join(timeout=5)
        sock.close()
