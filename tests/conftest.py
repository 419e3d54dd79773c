"""Shared fixtures: the real Postgres and Redis of this machine, the stub LLM, the squad YAML.

Without Postgres or Redis the tests that need them skip with the reason; under CI (CI=true) a
missing service fails the run instead, so a green CI always means the real parts were exercised.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SQUAD_YAML = REPO_ROOT / "agents.yaml"
PG_ADMIN_URL = os.environ.get("ESQUADRA_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_TEST_URL = os.environ.get("ESQUADRA_TEST_REDIS", "redis://127.0.0.1:6379/0")
# The admin token of every test app that enables the admin API, and the header that carries it.
ADMIN_TOKEN = "test-admin-token-" + "x" * 16
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

# Every test (and every server it starts) shares one embeddings cache, so the routing examples
# are embedded once per machine rather than once per temporary data directory.
os.environ.setdefault("ESQUADRA_CACHE_DIR", str(REPO_ROOT / ".esquadra" / "cache"))


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip (laptop) or fail (CI) when a real service is not listening."""
    if _reachable(host, port):
        return
    reason = f"{name} is not reachable at {host}:{port}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI must run against the real {name}", pytrace=False)
    pytest.skip(f"{reason}; start it to run this test")


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A fresh, empty database on the real PostgreSQL for this test module, dropped afterwards."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    import psycopg

    name = f"esquadra_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    yield f"{base}/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_url() -> str:
    require_service("Redis", "127.0.0.1", 6379)
    return REDIS_TEST_URL


@pytest.fixture(scope="session")
def stub_server() -> Iterator[Any]:
    """One OpenAI-compatible stub LLM on loopback for the whole session."""
    from fakes.stub_llm import run_stub_llm

    with run_stub_llm() as server:
        yield server


@pytest.fixture
def llm(stub_server: Any) -> Any:
    """The stub LLM, reset to its defaults for this test."""
    stub_server.reset()
    return stub_server


@pytest.fixture
def online_env(llm: Any) -> dict[str, str]:
    """Environment that points the default model profile at the stub."""
    return {"OPENAI_API_KEY": "test-key", "OPENAI_BASE_URL": llm.url, "ESQUADRA_MODEL": "stub-1"}


def parse_sse(body: str) -> list[tuple[str, dict[str, Any]]]:
    """Split an SSE body into (event, data) pairs."""
    events = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        kind, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())
        if data:
            events.append((kind, json.loads("\n".join(data))))
    return events


def memory_settings(config: Path = SQUAD_YAML, **overrides: Any) -> Any:
    """App settings for a test: in-memory checkpoints and stores, the given squad YAML, the
    admin API on (`ADMIN_TOKEN`)."""
    from core.settings import Settings

    overrides.setdefault("admin_token", ADMIN_TOKEN)
    return Settings(config_path=config, database_url="memory", **overrides)


def store_settings(database_url: str | None, data_dir: Path, **overrides: Any) -> Any:
    """Settings for opening the stores alone: `None` = SQLite under `data_dir`, "memory", or a
    Postgres URL."""
    from core.settings import Settings

    return Settings(
        config_path=SQUAD_YAML, database_url=database_url, data_dir=data_dir, **overrides
    )


@pytest.fixture
async def offline_client() -> AsyncIterator[Any]:
    """The app with no model (offline answers), on in-memory stores."""
    from litestar.testing import AsyncTestClient

    from server.app import create_app

    async with AsyncTestClient(app=create_app(memory_settings(), environ={})) as client:
        yield client


@pytest.fixture
async def online_client(online_env: dict[str, str]) -> AsyncIterator[Any]:
    """The app talking to the stub LLM, on in-memory stores."""
    from litestar.testing import AsyncTestClient

    from server.app import create_app

    async with AsyncTestClient(app=create_app(memory_settings(), environ=online_env)) as client:
        yield client


async def chat(client: Any, **body: Any) -> list[tuple[str, dict[str, Any]]]:
    """POST /v1/chat and the SSE events it streamed (a 200 event stream is asserted)."""
    response = await client.post("/v1/chat", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return parse_sse(response.text)


async def channel_chat(client: Any, **turn: Any) -> list[tuple[str, dict[str, Any]]]:
    """A turn as a channel's adapter runs it (the WhatsApp webhook): `ChatService.prepare` and
    `stream` in process. No HTTP body may claim such a channel's sender (server/auth.py)."""
    import asyncio

    from server.chat import ChatTurn

    async def run() -> list[tuple[str, dict[str, Any]]]:
        service = client.app.state.chat
        prepared = await service.prepare(ChatTurn(**turn))
        return [event async for event in service.stream(prepared)]

    # On the app's own loop (the test client's portal thread), where its clients were opened.
    return await asyncio.to_thread(client.blocking_portal.call, run)


def copy_squad(tmp_path: Path, replacements: dict[str, str] | None = None) -> Path:
    """A copy of the real squad (YAML, prompts, routing data and fits) to edit in a test."""
    import shutil

    shutil.copytree(REPO_ROOT / "prompts", tmp_path / "prompts")
    (tmp_path / "tests" / "data").mkdir(parents=True)
    for data in (REPO_ROOT / "tests" / "data").glob("routing_*.json*"):
        shutil.copy(data, tmp_path / "tests" / "data" / data.name)
    shutil.copy(REPO_ROOT / "agents.routing.json", tmp_path / "agents.routing.json")
    text = SQUAD_YAML.read_text(encoding="utf-8")
    for old, new in (replacements or {}).items():
        assert old in text, f"{old!r} is not in agents.yaml"
        text = text.replace(old, new, 1)
    (tmp_path / "agents.yaml").write_text(text, encoding="utf-8")
    return tmp_path / "agents.yaml"


CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Playwright driving Debian's Chromium at /usr/bin/chromium (never a downloaded browser);
    skipped without it, except under CI."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: apt-get install chromium (never `playwright install`)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield browser
        finally:
            browser.close()
