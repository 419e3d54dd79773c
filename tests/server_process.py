"""Run `esquadra serve` as a real child process, so tests can kill and restart it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """One `esquadra serve` process on a free loopback port."""

    def __init__(
        self,
        env: dict[str, str],
        *,
        config: Path | None = None,
        workers: int = 1,
        log_level: str = "warning",
        output: Path | None = None,
    ) -> None:
        """`output`: a file that receives the server's stdout and stderr (default: a pipe)."""
        self.workers = workers
        self.log_level = log_level
        self.output = output
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._env = {**os.environ, **env}
        self._config = config or REPO_ROOT / "agents.yaml"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 120.0) -> ServerProcess:
        esquadra = Path(sys.executable).parent / "esquadra"
        sink = self.output.open("ab") if self.output is not None else None
        self._proc = subprocess.Popen(
            [
                str(esquadra),
                "serve",
                "--port",
                str(self.port),
                "--config",
                str(self._config),
                "--log-level",
                self.log_level,
                "--workers",
                str(self.workers),
            ],
            cwd=REPO_ROOT,
            env=self._env,
            stdout=sink or subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        if sink is not None:
            sink.close()  # the child holds its own copy
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                output = self._proc.stdout.read().decode() if self._proc.stdout else ""
                if self.output is not None:
                    output = self.output.read_text(errors="replace")
                raise RuntimeError(f"server exited with {self._proc.returncode}:\n{output}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        raise TimeoutError(f"server on {self.url} not ready after {timeout_s}s")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Stop the process the hard way by default, as a crash would."""
        if self._proc and self._proc.poll() is None:
            self._proc.send_signal(sig)
            self._proc.wait(timeout=15)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill(signal.SIGTERM)
