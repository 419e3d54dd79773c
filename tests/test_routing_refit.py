"""The routing head follows live edits of the routing examples, and a stale fit is reported.

A live edit refits the semantic head in the background: the old head serves until the new one
is ready, a failed refit keeps the old head, and edits made during a refit coalesce. The refits
run on an executor the test holds shut (`GatedExecutor`), so "during the refit" is a state the
test controls, not a race it sleeps through.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT, SQUAD_YAML, copy_squad, memory_settings, store_settings

from checkpointing import open_stores
from checkpointing.registry import AgentRegistry
from graphs import registry
from graphs.compiler import build_squad
from graphs.live import LiveSquad
from graphs.loader import load_spec

ESQUADRA = str(Path(sys.executable).parent / "esquadra")
CACHE = REPO_ROOT / ".esquadra" / "cache"
LOADED = load_spec(SQUAD_YAML)

# Before the edit the squad's head sends this to Max (the fallback); Lia's new examples are
# about the team's year-end draw and pool.
MESSAGE = "como faço o sorteio do amigo secreto da firma?"
NEW_LIA_EXAMPLES = [
    "quero organizar o bolao da copa com o pessoal",
    "amigo secreto da equipe, como sorteio?",
    "bolao do campeonato entre os funcionarios",
    "festa de fim de ano da firma com sorteio",
    "regras do bolao da equipe",
]
LIA_EXAMPLES = list(LOADED.spec.agent("lia").routing.examples)


class GatedExecutor(ThreadPoolExecutor):
    """One thread whose jobs wait for `open()`; `fail` makes them raise instead of running."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__(max_workers=1)
        self.fail = fail
        self.submitted = 0
        self._gate = threading.Event()
        self._first = threading.Event()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        def gated() -> Any:
            if not self._gate.wait(timeout=120):
                raise TimeoutError("the test never opened the gate")
            if self.fail:
                raise RuntimeError("refit failed on purpose")
            return fn(*args, **kwargs)

        self.submitted += 1
        self._first.set()
        return super().submit(gated)

    def open(self) -> None:
        self._gate.set()

    async def started(self) -> None:
        assert await asyncio.to_thread(self._first.wait, 30), "no refit was submitted"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ESQUADRA, *args], capture_output=True, text=True, timeout=240, cwd=REPO_ROOT
    )


def stale_copy(tmp_path: Path) -> Path:
    """The real squad with one of Leo's examples edited after the fit."""
    return copy_squad(
        tmp_path, {'"registra 1.500 de venda hoje"': '"registra 1.600 de venda hoje"'}
    )


# --- esquadra check --------------------------------------------------------------------------


def test_check_warns_that_an_edited_example_left_the_fit_stale(tmp_path: Path) -> None:
    config = stale_copy(tmp_path)
    result = run_cli("check", str(config))
    assert result.returncode == 0, result.stderr  # a warning: the squad still routes
    assert f"warning: {tmp_path / 'agents.routing.json'} is stale" in result.stderr
    assert f"fix: esquadra fit-routing --config {config}" in result.stderr


def test_check_strict_fails_on_a_stale_fit(tmp_path: Path) -> None:
    result = run_cli("check", "--strict", str(stale_copy(tmp_path)))
    assert result.returncode == 1
    assert "is stale" in result.stderr


def test_check_of_a_fresh_fit_warns_nothing(tmp_path: Path) -> None:
    result = run_cli("check", "--strict", str(copy_squad(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr


# --- /readyz ---------------------------------------------------------------------------------


async def readyz(config: Path) -> tuple[int, dict[str, Any]]:
    from litestar.testing import AsyncTestClient

    from server.app import create_app

    async with AsyncTestClient(app=create_app(memory_settings(config), environ={})) as client:
        response = await client.get("/readyz")
    return response.status_code, response.json()


async def test_readyz_reports_a_stale_fit_as_degraded_but_ready(tmp_path: Path) -> None:
    # Stale as after an edit, without re-embedding a thousand examples: the fit's digest moved.
    config = copy_squad(tmp_path)
    fitted = tmp_path / "agents.routing.json"
    data = json.loads(fitted.read_text(encoding="utf-8"))
    fitted.write_text(json.dumps({**data, "training_digest": "0" * 16}), encoding="utf-8")

    status, body = await readyz(config)
    assert status == 200
    assert (body["status"], body["routing"]) == ("degraded", "stale")
    assert body["routing_fix"] == "esquadra fit-routing"


async def test_readyz_reports_a_fresh_fit(tmp_path: Path) -> None:
    status, body = await readyz(copy_squad(tmp_path))
    assert status == 200
    assert (body["status"], body["routing"], body["routing_fix"]) == ("ready", "fresh", None)
    assert body["routing_head"] == {
        "examples": "agents.yaml",
        "refitted_at": None,
        "refitting": False,
        "refit_error": None,
    }


# --- live refit ------------------------------------------------------------------------------


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[AgentRegistry]:
    """The agent registry on SQLite, seeded from the YAML."""
    async with open_stores(store_settings(None, tmp_path)) as stores:
        store = AgentRegistry(stores.db)
        await registry.seed(store, LOADED)
        yield store


@pytest.fixture
async def squad() -> AsyncIterator[Any]:
    squad = await asyncio.to_thread(build_squad, LOADED, {}, offline=True, cache_dir=CACHE)
    yield squad
    await squad.aclose()


async def edit_lia(store: AgentRegistry, examples: list[str]) -> None:
    await registry.propose(store, LOADED, "lia", {"routing_examples": examples}, "ana")


async def route(live: LiveSquad, text: str) -> str:
    router = live.current.router
    assert router is not None
    return (await router.route(text, [], live.current.active))["agent"]


async def test_a_live_edit_routes_by_the_new_examples_once_the_refit_is_ready(
    store: AgentRegistry, squad: Any
) -> None:
    gate = GatedExecutor()
    live = LiveSquad(squad, store, refit_executor=gate)
    try:
        await live.refresh()
        assert await route(live, MESSAGE) == "max"

        await edit_lia(store, LIA_EXAMPLES + NEW_LIA_EXAMPLES)
        assert await live.refresh()
        await gate.started()
        # Refitting: the new snapshot (this revision) still routes with the old head.
        assert live.current.revision == await store.revision()
        assert live.current.router is squad.router
        assert await route(live, MESSAGE) == "max"

        gate.open()
        await live.refitter.settled()
        assert live.current.router is not squad.router
        assert await route(live, MESSAGE) == "lia"
        state = live.refitter.state()
        assert state.revision == await store.revision()
        assert (state.refitting, state.error) == (False, None)
    finally:
        gate.open()
        await live.aclose()


async def test_a_failed_refit_keeps_the_old_head(store: AgentRegistry, squad: Any) -> None:
    gate = GatedExecutor(fail=True)
    live = LiveSquad(squad, store, refit_executor=gate)
    try:
        await live.refresh()
        await edit_lia(store, LIA_EXAMPLES + NEW_LIA_EXAMPLES)
        await live.refresh()
        gate.open()
        await live.refitter.settled()
        assert live.current.router is squad.router
        assert await route(live, MESSAGE) == "max"
        assert "refit failed on purpose" in (live.refitter.state().error or "")
    finally:
        await live.aclose()


async def test_edits_during_a_refit_coalesce_into_one_refit_of_the_latest(
    store: AgentRegistry, squad: Any
) -> None:
    gate = GatedExecutor()
    live = LiveSquad(squad, store, refit_executor=gate)
    first, second, latest = NEW_LIA_EXAMPLES[0], NEW_LIA_EXAMPLES[1], NEW_LIA_EXAMPLES[2]
    try:
        await live.refresh()
        await edit_lia(store, [*LIA_EXAMPLES, first])
        await live.refresh()
        await gate.started()  # the first edit's refit is on the executor, waiting
        await edit_lia(store, [*LIA_EXAMPLES, second])
        await live.refresh()
        await edit_lia(store, [*LIA_EXAMPLES, latest])
        await live.refresh()

        gate.open()
        await live.refitter.settled()
        # The running refit (first edit) finished and was dropped; the second edit was never
        # fitted; the latest was, once.
        assert gate.submitted == 2
        router = live.current.router
        assert router is not None and router.head is not None
        assert latest in router.head.texts
        assert first not in router.head.texts and second not in router.head.texts
    finally:
        await live.aclose()


async def test_the_api_routes_with_the_refitted_head_and_readyz_says_where_it_came_from(
    tmp_path: Path,
) -> None:
    from litestar.testing import AsyncTestClient

    from server.app import create_app

    settings = store_settings(None, tmp_path)
    async with AsyncTestClient(app=create_app(settings, environ={})) as client:
        live = client.app.state.chat.live

        async def edit_and_refit() -> None:  # on the app's loop, where its stores live
            await edit_lia(live.store, LIA_EXAMPLES + NEW_LIA_EXAMPLES)
            await live.refresh()
            await live.refitter.settled()

        await asyncio.to_thread(client.blocking_portal.call, edit_and_refit)

        classified = (await client.post("/v1/classify", json={"text": MESSAGE})).json()
        body = (await client.get("/readyz")).json()
    assert classified["agent"] == "lia"
    revision = live.current.revision
    assert body["routing_head"]["examples"] == f"registry revision {revision}"
    assert body["routing_head"]["refitted_at"] is not None
    # The fit no longer matches the live examples: export them to git, then fit.
    assert body["routing"] == "stale"
    assert body["routing_fix"] == "esquadra export --out agents.yaml && esquadra fit-routing"
