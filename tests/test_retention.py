"""Checkpoint retention: 500 messages on one thread leave a bounded number of rows, and the
thread still reads back whole (pruning runs in the background, interleaved with the turns).
The table contract: LangGraph's own `setup()` creates every column the prune statements use."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date
from importlib.metadata import version
from pathlib import Path

import pytest
from conftest import SQUAD_YAML, store_settings
from langchain_core.messages import HumanMessage

from checkpointing import open_stores
from checkpointing.langgraph_tables import COLUMNS, STATEMENTS, checkpoint_tables
from checkpointing.ledger import LedgerStore
from checkpointing.retention import CheckpointPruner
from checkpointing.stores import Stores
from graphs.compiler import Squad, build_squad
from graphs.loader import load_spec
from graphs.state import SquadContext

CONTEXT = SquadContext(today=date(2026, 11, 30))
KEEP = 20
EVERY = 5
TURNS = 500


@pytest.fixture(scope="module")
async def squad() -> AsyncIterator[Squad]:
    squad = build_squad(load_spec(SQUAD_YAML), {}, offline=True)
    yield squad
    await squad.aclose()


@pytest.fixture(params=["sqlite", "postgres"])
def durable_url(request: pytest.FixtureRequest) -> str | None:
    return request.getfixturevalue("postgres_url") if request.param == "postgres" else None


async def count_rows(stores: Stores, thread_id: str) -> dict[str, int]:
    """Rows of this thread in each of LangGraph's tables."""
    tables = checkpoint_tables(stores.backend, stores.db)
    assert tables is not None
    return await tables.count(thread_id)


async def test_rows_per_thread_stay_bounded_after_500_messages(
    squad: Squad, durable_url: str | None, tmp_path: Path
) -> None:
    thread = "retention-1"
    config = {"configurable": {"thread_id": thread}}
    async with open_stores(store_settings(durable_url, tmp_path)) as stores:
        graph = squad.builder.compile(checkpointer=stores.checkpointer)
        tables = checkpoint_tables(stores.backend, stores.db)
        pruner = CheckpointPruner(tables, KEEP, every_turns=EVERY)
        peak = 0
        for n in range(TURNS):
            # "@max" decides in the rules layer: the test measures storage, not routing.
            message = HumanMessage(content=f"@max mensagem {n}: como divulgo a padaria?")
            await graph.ainvoke({"messages": [message]}, config, context=CONTEXT)
            pruner.after_turn(thread)  # what SessionRecorder does after every turn
            if n % 50 == 49:
                peak = max(peak, (await count_rows(stores, thread))["checkpoints"])
        await pruner.drain()
        rows = await count_rows(stores, thread)
        state = await graph.aget_state(config)
        history = [c async for c in graph.aget_state_history(config)]

    # Bounded: K kept, plus at most the checkpoints of the turns since the last prune.
    per_turn = 4  # input, classify, agent (+ the loop's start) checkpoints per turn
    assert rows["checkpoints"] <= KEEP
    assert peak <= KEEP + per_turn * (EVERY + 1)
    writes = rows.get("checkpoint_writes", rows.get("writes", 0))
    assert writes <= per_turn * KEEP
    if "checkpoint_blobs" in rows:
        assert rows["checkpoint_blobs"] <= 3 * KEEP
    assert len(history) == rows["checkpoints"]

    # The thread reads back whole: every message, in order, the last ones intact.
    messages = state.values["messages"]
    assert len(messages) == 2 * TURNS
    users = [m.content for m in messages if isinstance(m, HumanMessage)]
    assert users[0].startswith("@max mensagem 0:")
    assert users[-1] == f"@max mensagem {TURNS - 1}: como divulgo a padaria?"
    assert messages[-1].name == "max" and messages[-1].content


async def test_prune_keeps_exactly_k_and_the_thread_continues(
    squad: Squad, durable_url: str | None, tmp_path: Path
) -> None:
    thread = "retention-2"
    config = {"configurable": {"thread_id": thread}}
    async with open_stores(store_settings(durable_url, tmp_path)) as stores:
        graph = squad.builder.compile(checkpointer=stores.checkpointer)
        context = replace(CONTEXT, user_id="owner-retention", ledger=LedgerStore(stores.db))
        texts = [f"ideia de post número {n + 1} pra loja" for n in range(9)]
        for text in [*texts, "registra 1.500 de venda hoje"]:  # the last one asks sim/não
            await graph.ainvoke({"messages": [HumanMessage(content=text)]}, config, context=context)
        before = await count_rows(stores, thread)
        tables = checkpoint_tables(stores.backend, stores.db)
        pruned = await CheckpointPruner(tables, 3).prune(thread)
        after = await count_rows(stores, thread)
        assert after["checkpoints"] == 3
        assert pruned.checkpoints == before["checkpoints"] - 3
        # Still a working conversation: every message, and the question still waiting.
        await graph.ainvoke({"messages": [HumanMessage(content="sim")]}, config, context=context)
        state = await graph.aget_state(config)
    messages = state.values["messages"]
    assert len(messages) == 22
    assert messages[-1].content.startswith("Pronto! Registrei receita de R$ 1.500,00")


# --------------------------------------------------------------------------- table contract


async def real_columns(stores: Stores) -> dict[str, set[str]]:
    """Columns of every table in the checkpointer's database, as the database reports them."""
    async with stores.db.transaction() as tx:
        if stores.backend == "postgres":
            rows = await tx.fetchall(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema()"
            )
        else:
            rows = []
            for (table,) in await tx.fetchall(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            ):
                info = await tx.fetchall(f"PRAGMA table_info({table})")
                rows += [(table, column[1]) for column in info]
    columns: dict[str, set[str]] = {}
    for table, column in rows:
        columns.setdefault(table, set()).add(column)
    return columns


async def test_langgraph_tables_still_have_the_columns_retention_uses(
    durable_url: str | None, tmp_path: Path
) -> None:
    """Fails when a LangGraph release renames or drops a table or column the prune statements in
    checkpointing/langgraph_tables.py use (the saver's public `setup()` makes the schema)."""
    async with open_stores(store_settings(durable_url, tmp_path)) as stores:  # saver.setup()
        real = await real_columns(stores)
        backend = stores.backend
    package = f"langgraph-checkpoint-{backend} {version(f'langgraph-checkpoint-{backend}')}"
    missing = [
        f"{table}.{column}"
        for table, columns in COLUMNS[backend].items()
        for column in sorted(columns)
        if column not in real.get(table, set())
    ]
    assert not missing, (
        f"LangGraph's {backend} schema ({package}) has no {', '.join(missing)}, which "
        "checkpointing/langgraph_tables.py prunes by: rewrite its statements for the new schema"
    )
    # The declaration is the statements' truth: every column of the tables a statement names,
    # if the statement names it, is declared.
    declared = set().union(*COLUMNS[backend].values())
    for sql in STATEMENTS[backend]:
        words = set(re.findall(r"[a-z_]+", sql))
        tables = words & set(real)
        assert tables <= set(COLUMNS[backend]), f"{sorted(tables)}: a table not in COLUMNS"
        undeclared = words & set().union(*(real[t] for t in tables)) - declared
        assert not undeclared, f"{sorted(undeclared)} used in a statement but not in COLUMNS"
