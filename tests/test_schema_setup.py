"""Several workers starting together on a new database all come up (schema setup is serialised)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from checkpointing import open_checkpointer
from checkpointing.fenced import PostgresFences


async def test_workers_starting_together_on_a_new_database_all_set_up(
    postgres_url: str, tmp_path: Path
) -> None:
    async def start_worker(n: int) -> str:
        async with open_checkpointer(postgres_url, tmp_path / str(n)) as saver:
            await PostgresFences(saver.conn).setup()  # type: ignore[attr-defined]
            return type(saver).__name__

    started = await asyncio.gather(*(start_worker(n) for n in range(4)))
    assert started == ["AsyncPostgresSaver"] * 4
