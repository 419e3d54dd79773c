"""The agent registry: versions, audit, validated patches and rollback, on Postgres and SQLite."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import SQUAD_YAML, store_settings

from checkpointing import open_stores
from checkpointing.registry import AgentRegistry
from graphs import registry
from graphs.agent_edits import PatchError, yaml_configs
from graphs.loader import load_spec

LOADED = load_spec(SQUAD_YAML)


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AgentRegistry]:
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    async with open_stores(store_settings(url, tmp_path)) as stores:
        async with stores.db.transaction() as tx:  # the Postgres database is per module
            for table in ("agent_versions", "agent_audit", "agent_synced"):
                await tx.execute(f"DELETE FROM {table}")
        yield AgentRegistry(stores.db)


@pytest.fixture
async def seeded(store: AgentRegistry) -> AgentRegistry:
    await registry.seed(store, LOADED)
    return store


async def test_seeding_an_empty_registry_gives_every_yaml_agent_version_1(
    store: AgentRegistry,
) -> None:
    assert await registry.seed(store, LOADED) == ["leo", "max", "lia"]
    current = await store.current()
    assert {a: v.version for a, v in current.items()} == {"leo": 1, "max": 1, "lia": 1}
    assert current["lia"].config == yaml_configs(LOADED)["lia"]
    assert current["lia"].config["prompt_text"].strip()
    assert current["lia"].source == "yaml"
    assert await registry.seed(store, LOADED) == []  # a second start adds nothing


async def test_a_patch_makes_a_new_version_with_its_diff_and_an_audit_entry(
    seeded: AgentRegistry,
) -> None:
    before = await seeded.revision()
    created = await registry.propose(seeded, LOADED, "lia", {"temperature": 0.9}, "ana")
    assert (created.version, created.source, created.actor) == (2, "admin", "ana")
    assert created.diff == {"temperature": [0.5, 0.9]}
    assert (await seeded.current())["lia"].config["temperature"] == 0.9
    assert await seeded.revision() > before
    entry = (await seeded.audit(1))[0]
    assert (entry.actor, entry.action, entry.agent_id) == ("ana", "update", "lia")
    assert (entry.from_version, entry.to_version, entry.diff) == (1, 2, created.diff)


async def test_routing_examples_are_patched_inside_routing(seeded: AgentRegistry) -> None:
    created = await registry.propose(
        seeded, LOADED, "lia", {"routing_examples": ["quero contratar"]}, "ana"
    )
    assert created.config["routing"]["examples"] == ["quero contratar"]
    assert created.config["routing"]["keywords"]  # the rest of `routing` is untouched
    assert list(created.diff) == ["routing.examples"]


async def test_a_patch_that_changes_nothing_makes_no_version(seeded: AgentRegistry) -> None:
    same = await registry.propose(seeded, LOADED, "lia", {"temperature": 0.5}, "ana")
    assert same.version == 1
    assert [e.action for e in await seeded.audit()] == ["seed", "seed", "seed"]


async def test_a_bad_patch_names_each_field_and_changes_nothing(seeded: AgentRegistry) -> None:
    revision = await seeded.revision()
    patch = {"temperature": 3, "max_tokens": "muito", "colour": "blue"}
    with pytest.raises(PatchError) as caught:
        await registry.propose(seeded, LOADED, "lia", patch, "ana")
    fields = {error["field"]: error["message"] for error in caught.value.errors}
    assert set(fields) == {"temperature", "max_tokens", "colour"}
    assert fields["temperature"].startswith("must be between 0 and 2, got 3")
    assert fields["max_tokens"].startswith("must be a whole number")
    assert fields["colour"].startswith("unknown field 'colour'")
    assert (await seeded.current())["lia"].version == 1
    assert await seeded.revision() == revision


async def test_unknown_tools_and_model_profiles_are_refused_like_the_loader(
    seeded: AgentRegistry,
) -> None:
    with pytest.raises(PatchError) as caught:
        await registry.propose(seeded, LOADED, "leo", {"tools": ["payroll"], "model": "gpt"}, "a")
    fields = {error["field"]: error["message"] for error in caught.value.errors}
    assert fields["tools"].startswith("unknown tool 'payroll'")
    assert fields["model"].startswith("unknown model profile 'gpt'")


async def test_the_fallback_agent_cannot_be_deactivated(seeded: AgentRegistry) -> None:
    with pytest.raises(PatchError) as caught:
        await registry.propose(seeded, LOADED, "max", {"active": False}, "ana")
    assert [error["field"] for error in caught.value.errors] == ["active"]
    assert "fallback" in caught.value.errors[0]["message"]


async def test_the_squad_keeps_an_active_agent(seeded: AgentRegistry) -> None:
    # The fallback must stay on, so switching the others off stops at it.
    await registry.propose(seeded, LOADED, "leo", {"active": False}, "ana")
    await registry.propose(seeded, LOADED, "lia", {"active": False}, "ana")
    with pytest.raises(PatchError):
        await registry.propose(seeded, LOADED, "max", {"active": False}, "ana")
    assert [a for a, v in (await seeded.current()).items() if v.config["active"]] == ["max"]


async def test_rollback_restores_the_exact_previous_config(seeded: AgentRegistry) -> None:
    original = (await seeded.current())["max"].config
    await registry.propose(
        seeded, LOADED, "max", {"temperature": 1.2, "prompt_text": "Seja breve."}, "ana"
    )
    await registry.propose(seeded, LOADED, "max", {"max_tokens": 100}, "ana")
    restored = await registry.rollback(seeded, LOADED, "max", 1, "bia")
    assert (restored.version, restored.source) == (4, "rollback")
    assert restored.config == original
    assert (await seeded.current())["max"].config == original
    assert [v.version for v in await seeded.versions("max")] == [4, 3, 2, 1]
    entry = (await seeded.audit(1))[0]
    assert (entry.action, entry.actor, entry.from_version, entry.to_version) == (
        "rollback",
        "bia",
        3,
        4,
    )


async def test_rollback_to_a_missing_version_is_a_lookup_error(seeded: AgentRegistry) -> None:
    with pytest.raises(LookupError):
        await registry.rollback(seeded, LOADED, "max", 9, "bia")


async def test_concurrent_patches_get_distinct_versions(seeded: AgentRegistry) -> None:
    temperatures = [round(0.1 * i, 1) for i in range(1, 9)]
    created = await asyncio.gather(
        *(registry.propose(seeded, LOADED, "leo", {"temperature": t}, "ana") for t in temperatures)
    )
    assert sorted(v.version for v in created) == list(range(2, 10))
    assert len(await seeded.versions("leo")) == 9
