"""Checkpoint retention: 500 messages on one thread leave a bounded number of rows, and the
thread still reads back whole (pruning runs in the background, interleaved with the turns)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from conftest import SQUAD_YAML
from langchain_core.messages import HumanMessage

from checkpointing import open_checkpointer
from checkpointing.retention import CheckpointPruner
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


async def count_rows(saver: Any, thread_id: str) -> dict[str, int]:
    """Rows of this thread in each of the saver's tables."""
    if type(saver).__name__ == "AsyncPostgresSaver":
        tables = ("checkpoints", "checkpoint_writes", "checkpoint_blobs")
        async with saver.conn.connection() as conn:
            counts = {}
            for table in tables:
                cur = await conn.execute(
                    f"SELECT count(*) AS n FROM {table} WHERE thread_id = %s", (thread_id,)
                )
                counts[table] = (await cur.fetchone())["n"]
            return counts
    counts = {}
    for table in ("checkpoints", "writes"):
        cur = await saver.conn.execute(
            f"SELECT count(*) FROM {table} WHERE thread_id = ?", (thread_id,)
        )
        counts[table] = (await cur.fetchone())[0]
    return counts


async def test_rows_per_thread_stay_bounded_after_500_messages(
    squad: Squad, durable_url: str | None, tmp_path: Path
) -> None:
    thread = "retention-1"
    config = {"configurable": {"thread_id": thread}}
    async with open_checkpointer(durable_url, tmp_path) as saver:
        graph = squad.builder.compile(checkpointer=saver)
        pruner = CheckpointPruner(saver, KEEP, every_turns=EVERY)
        peak = 0
        for n in range(TURNS):
            # "@max" decides in the rules layer: the test measures storage, not routing.
            message = HumanMessage(content=f"@max mensagem {n}: como divulgo a padaria?")
            await graph.ainvoke({"messages": [message]}, config, context=CONTEXT)
            pruner.after_turn(thread)  # what SessionRecorder does after every turn
            if n % 50 == 49:
                peak = max(peak, (await count_rows(saver, thread))["checkpoints"])
        await pruner.drain()
        rows = await count_rows(saver, thread)
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
    async with open_checkpointer(durable_url, tmp_path) as saver:
        graph = squad.builder.compile(checkpointer=saver)
        for n in range(10):
            await graph.ainvoke(
                {"messages": [HumanMessage(content=f"registra {n + 1}00 de venda hoje")]},
                config,
                context=CONTEXT,
            )
        before = await count_rows(saver, thread)
        pruned = await CheckpointPruner(saver, 3).prune(thread)
        after = await count_rows(saver, thread)
        assert after["checkpoints"] == 3
        assert pruned.checkpoints == before["checkpoints"] - 3
        # Still a working conversation: the ledger of all ten turns is in the latest state.
        await graph.ainvoke(
            {"messages": [HumanMessage(content="@leo qual meu saldo?")]}, config, context=CONTEXT
        )
        state = await graph.aget_state(config)
    assert "R$ 5.500,00" in state.values["messages"][-1].content  # 100 + 200 + … + 1.000
