"""Conversations persist in every checkpointer backend and survive reopening the store."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from conftest import SQUAD_YAML, store_settings
from langchain_core.messages import HumanMessage

from checkpointing import open_stores
from checkpointing.ledger import LedgerStore
from graphs.compiler import build_squad
from graphs.loader import load_spec
from graphs.state import SquadContext

CONTEXT = SquadContext(today=date(2026, 11, 30))


def _url(request: pytest.FixtureRequest) -> str | None:
    """The DATABASE_URL for a backend name (None = the SQLite default)."""
    if request.param == "postgres":
        return request.getfixturevalue("postgres_url")
    return "memory" if request.param == "memory" else None


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest) -> str | None:
    return _url(request)


@pytest.fixture(params=["sqlite", "postgres"])
def durable_url(request: pytest.FixtureRequest) -> str | None:
    """Backends that outlive the process (memory is for unit tests only)."""
    return _url(request)


async def send(url: str | None, data_dir: Path, thread: str, text: str) -> list[str]:
    """Open the store, run one turn, close it again; return the thread's message texts."""
    squad = build_squad(load_spec(SQUAD_YAML), {})
    async with open_stores(store_settings(url, data_dir)) as stores:
        graph = squad.builder.compile(checkpointer=stores.checkpointer)
        config = {"configurable": {"thread_id": thread}}
        context = replace(CONTEXT, user_id=f"owner-{thread}", ledger=LedgerStore(stores.db))
        await graph.ainvoke({"messages": [HumanMessage(content=text)]}, config, context=context)
        state = await graph.aget_state(config)
    await squad.aclose()
    return [m.content for m in state.values["messages"]]


async def test_turn_is_checkpointed(store_url: str | None, tmp_path: Path) -> None:
    messages = await send(store_url, tmp_path, "t-1", "registra 1.500 de venda hoje")
    assert messages[0] == "registra 1.500 de venda hoje"
    assert "R$ 1.500,00" in messages[1]


async def test_a_pending_question_survives_reopening_the_store(
    durable_url: str | None, tmp_path: Path
) -> None:
    await send(durable_url, tmp_path, "t-2", "registra 1.500 de venda hoje")
    messages = await send(durable_url, tmp_path, "t-2", "sim")
    assert len(messages) == 4
    assert messages[3].startswith("Pronto! Registrei receita de R$ 1.500,00 em 30/11/2026")
    messages = await send(durable_url, tmp_path, "t-2", "@leo qual meu saldo?")
    assert "saldo R$ 1.500,00" in messages[5]  # from the entry the confirmed workflow wrote


async def test_history_has_one_checkpoint_per_step(store_url: str | None, tmp_path: Path) -> None:
    squad = build_squad(load_spec(SQUAD_YAML), {})
    async with open_stores(store_settings(store_url, tmp_path)) as stores:
        graph = squad.builder.compile(checkpointer=stores.checkpointer)
        config = {"configurable": {"thread_id": "t-3"}}
        await graph.ainvoke(
            {"messages": [HumanMessage(content="ideia de post pro natal")]}, config, context=CONTEXT
        )
        history = [snapshot async for snapshot in graph.aget_state_history(config)]
    await squad.aclose()
    # input, classify, agent: the run can be replayed from any of them in Studio.
    assert [s.next for s in history] == [(), ("max",), ("classify",), ("__start__",)]


def test_backend_is_chosen_by_url(tmp_path: Path) -> None:
    assert store_settings(None, tmp_path).backend == "sqlite"
    assert store_settings("memory", tmp_path).backend == "memory"
    assert store_settings("postgresql://u@h/db", tmp_path).backend == "postgres"


async def test_the_embedded_default_keeps_everything_in_one_sqlite_file(tmp_path: Path) -> None:
    await send(None, tmp_path, "t-4", "registra 1.500 de venda hoje")
    assert sorted(p.name for p in tmp_path.glob("*.sqlite")) == ["esquadra.sqlite"]  # noqa: ASYNC240
