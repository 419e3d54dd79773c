"""Several workers starting together on a new database all come up: LangGraph's setup and our
migrations are serialised, and each migration runs once."""

from __future__ import annotations

import asyncio
from pathlib import Path

from conftest import store_settings

from checkpointing import open_stores
from checkpointing.migrations import MIGRATIONS, applied_versions


async def test_workers_starting_together_on_a_new_database_all_set_up(
    postgres_url: str, tmp_path: Path
) -> None:
    async def start_worker(n: int) -> list[int]:
        async with open_stores(store_settings(postgres_url, tmp_path / str(n))) as stores:
            assert type(stores.checkpointer).__name__ == "AsyncPostgresSaver"
            return await applied_versions(stores.db)

    started = await asyncio.gather(*(start_worker(n) for n in range(4)))
    assert started == [[m.version for m in MIGRATIONS]] * 4
