"""The pending-turn row: written before the reply, handed back when its turn never finished."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import store_settings

from checkpointing import open_stores
from checkpointing.pending import PendingTurns


@pytest.fixture(params=["sqlite", "postgres"])
async def pending(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[PendingTurns]:
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    async with open_stores(store_settings(url, tmp_path)) as stores:
        yield PendingTurns(stores.db)


async def test_a_finished_turn_leaves_nothing_behind(pending: PendingTurns) -> None:
    assert await pending.begin("p-1", "a", "oi", "u", "web") is None
    await pending.finish("p-1", "a")
    assert await pending.get("p-1") is None
    assert await pending.begin("p-1", "b", "tudo bem?", "u", "web") is None


async def test_an_unfinished_turn_is_handed_to_the_next(pending: PendingTurns) -> None:
    await pending.begin("p-2", "a", "registra 100 de venda", "u", "whatsapp")
    previous = await pending.begin("p-2", "b", "e agora?", "u", "whatsapp")
    assert previous is not None
    assert (previous.turn_id, previous.message, previous.channel) == (
        "a",
        "registra 100 de venda",
        "whatsapp",
    )
    shown = await pending.get("p-2")
    assert shown is not None and shown.turn_id == "b"  # the new turn is the one running now


async def test_finishing_an_older_turn_keeps_the_newer_row(pending: PendingTurns) -> None:
    await pending.begin("p-3", "a", "um", None, "api")
    await pending.begin("p-3", "b", "dois", None, "api")
    await pending.finish("p-3", "a")  # a stalled turn finishing late
    shown = await pending.get("p-3")
    assert shown is not None and shown.message == "dois"
