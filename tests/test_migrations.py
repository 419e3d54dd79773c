"""Our tables are versioned: a new database gets every migration, and a database written by the
code before migrations existed upgrades with nothing lost (Postgres and the embedded SQLite)."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import textwrap
from io import BytesIO
from pathlib import Path

import pytest
from conftest import REPO_ROOT, SQUAD_YAML, store_settings
from langchain_core.messages import HumanMessage

from checkpointing import open_stores
from checkpointing.identity import IdentityStore
from checkpointing.memory_pipeline import open_fact_store
from checkpointing.migrations import MIGRATIONS, applied_versions, migrate
from graphs.compiler import build_squad
from graphs.loader import load_spec

# The last commit before versioned migrations: its stores created the tables themselves.
BEFORE_MIGRATIONS = "eb993d1"

# Runs on BEFORE_MIGRATIONS' code: one user, one fact, one fence, one conversation turn.
_OLD_WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from datetime import UTC, datetime
    from pathlib import Path
    import numpy as np
    from langchain_core.messages import HumanMessage
    from checkpointing.factory import open_checkpointer
    from checkpointing.identity import IdentityStore
    from checkpointing.memory_store import open_fact_store
    from checkpointing.sql import open_database
    from graphs.compiler import build_squad
    from graphs.loader import load_spec
    from nodes.facts import Fact

    async def main(url, data_dir, config):
        url = url or None
        data = Path(data_dir)
        async with open_database(url, data / "identity.sqlite") as db:
            store = IdentityStore(db)
            await store.setup()
            await store.resolve("whatsapp", "5511999990000")
        async with open_fact_store(url, data) as facts:
            vector = np.ones((1, 384), dtype=np.float32)
            fact = [Fact("city", "Fica em Campinas")]
            await facts.add("5511999990000", "t-old", "h1", datetime.now(UTC), fact, vector)
        squad = build_squad(load_spec(Path(config)), {}, offline=True)
        async with open_checkpointer(url, data) as saver:
            graph = squad.builder.compile(checkpointer=saver)
            config = {"configurable": {"thread_id": "t-old"}}
            first = {"messages": [HumanMessage(content="registra 1.500 de venda")]}
            await graph.ainvoke(first, config)
            if url:
                from checkpointing.fenced import PostgresFences
                fences = PostgresFences(saver.conn)
                await fences.setup()
                await fences.advance("t-old", 7)
        await squad.aclose()

    asyncio.run(main(*sys.argv[1:4]))
    """
)


def _old_code(tmp_path: Path) -> Path:
    """BEFORE_MIGRATIONS' tree, unpacked from this repository's history."""
    try:
        archive = subprocess.run(
            ["git", "archive", BEFORE_MIGRATIONS],
            cwd=REPO_ROOT,
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"git history is needed for the upgrade test: {exc}")
        pytest.skip(f"no git history here ({exc}); the upgrade test needs {BEFORE_MIGRATIONS}")
    tree = tmp_path / "old"
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(tree, filter="data")
    return tree


def _write_with_old_code(tmp_path: Path, url: str | None, data_dir: Path) -> None:
    tree = _old_code(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(tree), "ESQUADRA_OFFLINE": "1"}
    result = subprocess.run(
        # its own squad YAML: the old loader does not know the newer keys
        [sys.executable, "-c", _OLD_WRITER, url or "", str(data_dir), str(tree / "agents.yaml")],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    return request.getfixturevalue("postgres_url") if request.param == "postgres" else None


async def test_a_new_database_gets_every_migration_once(tmp_path: Path) -> None:
    async with open_stores(store_settings(None, tmp_path)) as stores:
        assert await applied_versions(stores.db) == [m.version for m in MIGRATIONS]
        assert await migrate(stores.db) == []  # a second start applies nothing


async def test_a_database_from_before_migrations_upgrades_with_nothing_lost(
    database_url: str | None, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    _write_with_old_code(tmp_path, database_url, data_dir)

    async with open_stores(store_settings(database_url, data_dir)) as stores:
        assert await applied_versions(stores.db) == [m.version for m in MIGRATIONS]
        identity = IdentityStore(stores.db)
        assert await identity.resolve("whatsapp", "5511999990000") == "5511999990000"
        facts = await open_fact_store(stores)
        assert [f.text for f in await facts.live("5511999990000")] == ["Fica em Campinas"]
        squad = build_squad(load_spec(SQUAD_YAML), {}, offline=True)
        graph = squad.builder.compile(checkpointer=stores.checkpointer)
        config = {"configurable": {"thread_id": "t-old"}}
        state = await graph.aget_state(config)
        assert state.values["messages"][0].content == "registra 1.500 de venda"
        # The cash book moved from the thread to `ledger_entries` ([S8]); the old per-thread
        # entry stays readable in the checkpoint, and the thread goes on.
        assert state.values["ledger"][0]["amount"] == "1500.00"
        await graph.ainvoke({"messages": [HumanMessage(content="@leo qual meu saldo?")]}, config)
        state = await graph.aget_state(config)
        assert state.values["messages"][-1].name == "leo"
        await squad.aclose()
        if database_url:
            async with stores.db.transaction() as tx:
                row = await tx.fetchone(
                    "SELECT token FROM thread_fences WHERE thread_id = %s", ("t-old",)
                )
            assert row == (7,)
    if database_url is None:  # the old separate files were imported into the one file
        names = sorted(p.name for p in data_dir.iterdir() if ".sqlite" in p.name)
        assert "esquadra.sqlite" in names and "checkpoints.sqlite" not in names
        assert {"identity.sqlite.imported", "memory.sqlite.imported"} <= set(names)
