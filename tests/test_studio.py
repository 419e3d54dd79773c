"""LangGraph Studio support: `langgraph.json` and the graph factory in `graphs/studio.py`."""

from __future__ import annotations

import importlib
import inspect
import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT, SQUAD_YAML
from langgraph.checkpoint.memory import InMemorySaver

from graphs import studio
from graphs.loader import load_spec

LANGGRAPH_JSON = REPO_ROOT / "langgraph.json"
LEO_MESSAGE = "Registre receita de R$ 1.500 da venda de hoje"


def _graph_target() -> tuple[Path, str]:
    config = json.loads(LANGGRAPH_JSON.read_text(encoding="utf-8"))
    target = config["graphs"]["squad"]
    file_part, _, attribute = target.rpartition(":")
    return (REPO_ROOT / file_part).resolve(), attribute


def test_langgraph_json_is_valid_and_points_at_the_factory() -> None:
    config = json.loads(LANGGRAPH_JSON.read_text(encoding="utf-8"))
    assert config["dependencies"] == ["."]
    assert config["python_version"] == "3.11"
    env = config.get("env")
    if isinstance(env, str):  # a file: it must exist, or `langgraph dev` refuses to start
        assert (REPO_ROOT / env).is_file()

    path, attribute = _graph_target()
    assert path.is_file() and path.is_relative_to(REPO_ROOT)
    module_name = ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts)
    factory = getattr(importlib.import_module(module_name), attribute)
    assert factory is studio.make_graph
    # langgraph-api passes the run's config to a one-parameter factory.
    assert list(inspect.signature(factory).parameters) == ["config"]


def test_default_config_is_the_repository_yaml_whatever_the_cwd(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    assert studio.studio_settings({}).config_path == SQUAD_YAML
    assert studio.studio_settings({"ESQUADRA_CONFIG": "agents.yaml"}).config_path == SQUAD_YAML
    other = tmp_path / "squad.yaml"
    assert studio.studio_settings({"ESQUADRA_CONFIG": str(other)}).config_path == other


def test_studio_reads_the_same_settings_as_the_server(tmp_path: Path) -> None:
    settings = studio.studio_settings(
        {"ESQUADRA_OFFLINE": "true", "ESQUADRA_CACHE_DIR": str(tmp_path / "cache")}
    )
    assert settings.offline is True
    assert settings.embeddings_cache == tmp_path / "cache"  # was ignored by Studio before
    assert studio.studio_settings({"ESQUADRA_DATA_DIR": "d"}).embeddings_cache == (
        REPO_ROOT / "d" / "cache"
    )


async def _ask(graph: Any, text: str, context: dict[str, Any]) -> dict[str, Any]:
    config = {"configurable": {"thread_id": uuid.uuid4().hex}}
    return await graph.ainvoke(
        {"messages": [{"role": "user", "content": text}]}, config=config, context=context
    )


async def test_factory_builds_the_squad_and_leo_answers_offline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ESQUADRA_OFFLINE", "1")
    monkeypatch.delenv("ESQUADRA_CONFIG", raising=False)
    monkeypatch.setattr(studio, "_CACHE", studio._SquadCache())
    spec = load_spec(SQUAD_YAML).spec
    active = [agent.id for agent in spec.active_agents()]
    workflows = [
        name for w in spec.workflows for name in (w.id, f"{w.id}__wait", f"{w.id}__execute")
    ]

    async with studio.make_graph({}) as compiled:
        assert compiled.checkpointer is None  # the LangGraph server brings its own
        nodes = set(compiled.get_graph().nodes) - {"__start__", "__end__"}
        assert nodes == {"classify", *active, *workflows}
        # Studio shows these as the run's context inputs.
        context_fields = compiled.get_context_jsonschema()["properties"]
        assert set(context_fields) == {"user_id", "channel", "thread_id", "today", "facts"}

        # What the server does with the factory's graph: attach its checkpointer.
        graph = compiled.copy(update={"checkpointer": InMemorySaver()})
        # Context arrives as JSON from Studio, so the date is a string.
        context = {"channel": "studio", "today": "2025-06-01", "user_id": "u-studio"}
        config = {"configurable": {"thread_id": uuid.uuid4().hex}}
        state = await graph.ainvoke(
            {"messages": [{"role": "user", "content": LEO_MESSAGE}]}, config, context=context
        )
        # The confirmation is an interrupt Studio shows, with the action it waits to run.
        [interrupt] = state["__interrupt__"]
        snapshot = await graph.aget_state(config)

    reply = state["messages"][-1]
    assert reply.name == "leo"
    assert "R$ 1.500,00" in reply.content
    assert "01/06/2025" in reply.content
    assert state["turn"]["offline"] is True
    assert interrupt.value["args"]["date"] == "2025-06-01"
    assert interrupt.value["question"] == reply.content
    assert snapshot.next == ("registrar_lancamento__wait",)


def _repo_copy(tmp_path: Path) -> Path:
    """A copy of the repository (files linked) whose squad YAML is a real, editable file."""
    for entry in REPO_ROOT.iterdir():
        if entry.name != SQUAD_YAML.name and not entry.name.startswith("."):
            (tmp_path / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    copy = tmp_path / "squad.yaml"
    copy.write_text(SQUAD_YAML.read_text(encoding="utf-8"), encoding="utf-8")
    return copy


async def test_factory_reuses_the_squad_until_its_yaml_changes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    copy = _repo_copy(tmp_path)
    monkeypatch.setenv("ESQUADRA_CONFIG", str(copy))
    monkeypatch.setenv("ESQUADRA_OFFLINE", "1")
    monkeypatch.setattr(studio, "_CACHE", studio._SquadCache())

    async with studio.make_graph({}) as first:
        pass
    async with studio.make_graph({}) as again:
        assert again is first  # built once: a build takes seconds, Studio asks for it often
    built = studio._CACHE._current
    assert built is not None and built.squad.loaded.path == copy
    assert all(built.squad.is_offline(agent_id) for agent_id in built.squad.runtimes)
    assert any("prompts" in path.parts for path in built.files)  # prompts are watched too

    stat = copy.stat()
    os.utime(copy, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    async with studio.make_graph({}) as rebuilt:
        assert rebuilt is not first
    assert built.closed  # the replaced squad's connection pool
