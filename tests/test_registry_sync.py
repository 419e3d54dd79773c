"""`esquadra sync` and `esquadra export`: YAML and live edits meet in the registry and go back
to git. The YAML wins a field only when it changed that field since the last sync."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import copy_squad, store_settings

from checkpointing import open_stores
from checkpointing.registry import AgentRegistry
from graphs import registry
from graphs.agent_edits import yaml_configs
from graphs.loader import load_spec


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AgentRegistry]:
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    async with open_stores(store_settings(url, tmp_path / "data")) as stores:
        async with stores.db.transaction() as tx:  # the Postgres database is per module
            for table in ("agent_versions", "agent_audit", "agent_synced"):
                await tx.execute(f"DELETE FROM {table}")
        yield AgentRegistry(stores.db)


LIA_BUDGET = "temperature: 0.5\n    max_tokens: 700"  # only Lia's lines read so


def _edit(config: Path, old: str, new: str) -> None:
    text = config.read_text(encoding="utf-8")
    assert old in text
    config.write_text(text.replace(old, new, 1), encoding="utf-8")


async def test_sync_applies_a_yaml_change_as_a_new_version(
    store: AgentRegistry, tmp_path: Path
) -> None:
    config = copy_squad(tmp_path)
    await registry.seed(store, load_spec(config))
    _edit(config, LIA_BUDGET, LIA_BUDGET.replace("700", "650"))
    report = await registry.sync(store, load_spec(config), "cli:sync")
    assert report.updated == ["lia"]
    lia = (await store.current())["lia"]
    assert (lia.version, lia.source, lia.diff) == (2, "yaml", {"max_tokens": [700, 650]})


async def test_a_live_edit_survives_a_sync_until_the_yaml_changes_that_field(
    store: AgentRegistry, tmp_path: Path
) -> None:
    config = copy_squad(tmp_path)
    loaded = load_spec(config)
    await registry.seed(store, loaded)
    await registry.propose(store, loaded, "lia", {"temperature": 0.9}, "ana")
    _edit(config, LIA_BUDGET, LIA_BUDGET.replace("700", "650"))  # another field
    report = await registry.sync(store, load_spec(config), "cli:sync")
    lia = (await store.current())["lia"].config
    assert (lia["temperature"], lia["max_tokens"]) == (0.9, 650)
    assert report.kept_live == {"lia": ["temperature"]}
    # Now the YAML itself changes the temperature: the YAML's new value wins.
    _edit(config, "temperature: 0.5\n", "temperature: 0.3\n")
    await registry.sync(store, load_spec(config), "cli:sync")
    assert (await store.current())["lia"].config["temperature"] == 0.3


async def test_a_forced_sync_makes_the_yaml_win_everywhere(
    store: AgentRegistry, tmp_path: Path
) -> None:
    config = copy_squad(tmp_path)
    loaded = load_spec(config)
    await registry.seed(store, loaded)
    await registry.propose(store, loaded, "lia", {"temperature": 0.9, "active": False}, "ana")
    report = await registry.sync(store, loaded, "cli:sync", force=True)
    assert report.updated == ["lia"]
    assert (await store.current())["lia"].config == yaml_configs(loaded)["lia"]


async def test_a_sync_without_yaml_changes_writes_no_version(
    store: AgentRegistry, tmp_path: Path
) -> None:
    loaded = load_spec(copy_squad(tmp_path))
    await registry.seed(store, loaded)
    report = await registry.sync(store, loaded, "cli:sync")
    assert (report.added, report.updated) == ([], [])
    assert {v.version for v in (await store.current()).values()} == {1}


async def test_export_writes_the_live_squad_back_as_yaml_and_prompt_files(
    store: AgentRegistry, tmp_path: Path
) -> None:
    config = copy_squad(tmp_path)
    loaded = load_spec(config)
    await registry.seed(store, loaded)
    patch = {"temperature": 0.8, "prompt_text": "Você é a Lia, do RH.\n", "tools": []}
    await registry.propose(store, loaded, "lia", patch, "ana")
    live = {a: v.config for a, v in (await store.current()).items()}
    text, prompts = registry.export_squad(loaded, live)
    config.write_text(text, encoding="utf-8")
    for relative, prompt in prompts.items():
        (config.parent / relative).write_text(prompt, encoding="utf-8")
    exported = load_spec(config)
    assert yaml_configs(exported) == live
    assert exported.spec.classifier == loaded.spec.classifier
    assert exported.spec.sessions == loaded.spec.sessions


def test_the_commands_sync_then_export_a_squad_that_checks(tmp_path: Path) -> None:
    from test_cli import run

    config = copy_squad(tmp_path)
    env = {"DATABASE_URL": "", "ESQUADRA_DATA_DIR": str(tmp_path / "data")}
    _edit(config, LIA_BUDGET, LIA_BUDGET.replace("700", "650"))
    synced = run("sync", "--config", str(config), env=env)
    assert synced.returncode == 0, synced.stderr
    assert "added ['leo', 'max', 'lia']" in synced.stdout
    exported = run("export", "--config", str(config), "--out", str(config), env=env)
    assert exported.returncode == 0, exported.stderr
    assert load_spec(config).spec.agent("lia").max_tokens == 650
    assert run("check", str(config)).returncode == 0
