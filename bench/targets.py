"""The processes a benchmark runs: the stub LLM and each target server, plus the squad's database.

Every server is a separate process on a free loopback port, started with its own log file
(a pipe nobody reads would fill up and stall the server) and stopped with SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("squad", "floor", "agent-squad")
PG_ADMIN_URL = os.environ.get("ESQUADRA_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
# The stub's shape for every run: a provider that thinks 300 ms, then streams 30 tokens 30 ms apart.
STUB_ARGS = ("--first-token-ms", "300", "--token-interval-ms", "30", "--tokens", "30")
# Variables that would change what the squad does (tracing to the network, forced offline mode,
# a Redis of the caller's: the bench passes its own) are not passed on.
_DROPPED_ENV = ("LANGSMITH_TRACING", "LANGCHAIN_TRACING_V2", "ESQUADRA_OFFLINE", "REDIS_URL")


def free_port() -> int:
    """A free loopback port (the tiny race until the server binds it is acceptable here)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def can_pin() -> bool:
    """`taskset` exists and there are at least two CPUs to split between servers and load."""
    return shutil.which("taskset") is not None and len(os.sched_getaffinity(0)) >= 2


def _get_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class ServerProcess:
    """One child server process: its command, where it answers and how to tell it is ready."""

    name: str
    argv: list[str]
    url: str
    ready_path: str
    env: Mapping[str, str] = field(default_factory=dict)
    cpu: int | None = None
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self, timeout_s: float = 90.0) -> ServerProcess:
        """Start the process and wait until `ready_path` answers 200."""
        argv = list(self.argv)
        if self.cpu is not None:
            argv = ["taskset", "-c", str(self.cpu), *argv]
        log = tempfile.NamedTemporaryFile(  # closed once the child holds it
            prefix=f"bench-{self.name}-", suffix=".log", delete=False
        )
        self.log_path = Path(log.name)
        self.proc = subprocess.Popen(
            argv,
            cwd=REPO_ROOT,
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}"
                )
            if _get_ok(self.url + self.ready_path):
                return self
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"{self.name} not ready on {self.url} after {timeout_s:.0f}s")

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the process's output, for error messages."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        """SIGTERM (uvicorn shuts its workers down), SIGKILL if it does not go within 15 s."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.log_path is not None:
            with contextlib.suppress(OSError):
                self.log_path.unlink()


def stub_process(cpu: int | None = None) -> ServerProcess:
    """The OpenAI-compatible stub LLM with the benchmark's timing."""
    port = free_port()
    argv = [sys.executable, "-m", "fakes.stub_llm", "--port", str(port), *STUB_ARGS]
    return ServerProcess("stub", argv, f"http://127.0.0.1:{port}", "/v1/models", cpu=cpu)


def target_process(
    name: str,
    llm_url: str,
    *,
    workers: int = 1,
    database_url: str | None = None,
    redis_url: str | None = None,
    redis_prefix: str | None = None,
    cpu: int | None = None,
) -> ServerProcess:
    """The server for target `name` (`squad`, `floor` or `agent-squad`) talking to `llm_url`."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    common = ["--port", str(port), "--workers", str(workers)]
    if name == "squad":
        esquadra = str(Path(sys.executable).parent / "esquadra")
        argv = [esquadra, "serve", *common, "--config", str(REPO_ROOT / "agents.yaml")]
        argv += ["--log-level", "warning"]
        env = {key: "" for key in _DROPPED_ENV}
        env.update(
            OPENAI_API_KEY="bench",
            OPENAI_BASE_URL=llm_url,
            ESQUADRA_MODEL="stub",
            ESQUADRA_CACHE_DIR=os.environ.get(
                "ESQUADRA_CACHE_DIR", str(REPO_ROOT / ".esquadra" / "cache")
            ),
        )
        if database_url:
            env["DATABASE_URL"] = database_url
        if redis_url:  # sessions, turn locks and the memory stream, as deployed
            env["REDIS_URL"] = redis_url
            env["ESQUADRA_REDIS_PREFIX"] = redis_prefix or "esquadra-bench:"
        # /readyz also checks the checkpoint store answers, not just that uvicorn is up.
        return ServerProcess(name, argv, url, "/readyz", env, cpu)
    modules = {"floor": "bench.floor", "agent-squad": "bench.agent_squad_app"}
    if name not in modules:
        raise ValueError(f"unknown target {name!r}; choose from {', '.join(TARGETS)}")
    argv = [sys.executable, "-m", modules[name], *common, "--llm-url", llm_url]
    return ServerProcess(name, argv, url, "/healthz", {}, cpu)


def bench_redis(url: str | None) -> str | None:
    """`url` when a Redis answers there, else None (the squad then keeps sessions in-process)."""
    if not url:
        return None
    try:
        import redis

        with redis.Redis.from_url(url, socket_connect_timeout=1) as client:
            client.ping()
    except Exception:
        return None
    return url


def drop_redis_prefix(url: str, prefix: str) -> None:
    """Delete the keys a run left under its own prefix."""
    import redis

    with redis.Redis.from_url(url) as client:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])


class BenchDatabase:
    """A fresh Postgres database for the squad's checkpoints, dropped afterwards."""

    def __init__(self, name: str = "esquadra_bench", admin_url: str = PG_ADMIN_URL) -> None:
        if not name.replace("_", "").isalnum():
            raise ValueError(f"database name must be alphanumeric/underscore, got {name!r}")
        self.name = name
        self.admin_url = admin_url

    @property
    def url(self) -> str:
        base, _, _ = self.admin_url.rpartition("/")
        return f"{base}/{self.name}"

    def _execute(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql)  # type: ignore[arg-type]  # name validated in __init__

    def create(self) -> str:
        """Drop any leftover from an interrupted run, create it empty and return its URL."""
        self.drop()
        self._execute(f'CREATE DATABASE "{self.name}"')
        return self.url

    def drop(self) -> None:
        self._execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
