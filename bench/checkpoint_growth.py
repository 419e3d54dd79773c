"""Checkpoint growth per thread, before and after retention pruning (docs/performance.md).

    python -m bench.checkpoint_growth --database-url postgresql://postgres@127.0.0.1:5432/x
    python -m bench.checkpoint_growth            # SQLite in a temporary directory

Runs offline turns on one thread (no model, "@max" so routing is the rules layer), measures the
thread's rows and bytes in every checkpoint table at a few points, then prunes to K and
measures again. The database must be empty or disposable.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from langchain_core.messages import HumanMessage

from checkpointing import open_stores
from checkpointing.langgraph_tables import checkpoint_tables
from checkpointing.retention import CheckpointPruner
from core.settings import Settings
from graphs.compiler import build_squad
from graphs.loader import load_spec
from graphs.state import SquadContext

_PG_SIZES = {
    "checkpoints": "coalesce(sum(pg_column_size(checkpoint) + pg_column_size(metadata)), 0)",
    "checkpoint_writes": "coalesce(sum(octet_length(blob)), 0)",
    "checkpoint_blobs": "coalesce(sum(octet_length(blob)), 0)",
}
_SQLITE_SIZES = {
    "checkpoints": "coalesce(sum(length(checkpoint) + length(metadata)), 0)",
    "writes": "coalesce(sum(length(value)), 0)",
}


async def measure(saver: Any, thread_id: str) -> dict[str, tuple[int, int]]:
    """{table: (rows, payload bytes)} for one thread."""
    out: dict[str, tuple[int, int]] = {}
    if type(saver).__name__ == "AsyncPostgresSaver":
        async with saver.conn.connection() as conn:
            for table, size in _PG_SIZES.items():
                cur = await conn.execute(
                    f"SELECT count(*) AS n, {size} AS b FROM {table} WHERE thread_id = %s",
                    (thread_id,),
                )
                row = await cur.fetchone()
                out[table] = (row["n"], int(row["b"]))
        return out
    for table, size in _SQLITE_SIZES.items():
        cur = await saver.conn.execute(
            f"SELECT count(*), {size} FROM {table} WHERE thread_id = ?", (thread_id,)
        )
        rows, size_b = await cur.fetchone()
        out[table] = (rows, int(size_b))
    return out


def line(label: str, sizes: dict[str, tuple[int, int]]) -> str:
    rows = sum(r for r, _ in sizes.values())
    kib = sum(b for _, b in sizes.values()) / 1024
    detail = ", ".join(f"{t} {r} rows / {b / 1024:,.0f} KiB" for t, (r, b) in sizes.items())
    return f"| {label} | {rows} | {kib:,.0f} | {detail} |"


async def run(database_url: str | None, turns: int, keep: int, marks: list[int]) -> None:
    squad = build_squad(load_spec(Path("agents.yaml")), {}, offline=True)
    context = SquadContext(today=date(2026, 11, 30))
    with tempfile.TemporaryDirectory() as tmp:
        async with open_stores(Settings(database_url=database_url, data_dir=Path(tmp))) as stores:
            saver = stores.checkpointer
            graph = squad.builder.compile(checkpointer=saver)
            thread = f"growth-{int(time.time())}"
            config = {"configurable": {"thread_id": thread}}
            print("| after | rows | KiB | per table |\n|---|---|---|---|")
            for n in range(1, turns + 1):
                text = f"@max mensagem {n}: como divulgo a padaria no bairro?"
                await graph.ainvoke(
                    {"messages": [HumanMessage(content=text)]}, config, context=context
                )
                if n in marks:
                    print(
                        line(
                            f"{n} turns ({2 * n} messages), no pruning",
                            await measure(saver, thread),
                        )
                    )
            started = time.perf_counter()
            tables = checkpoint_tables(stores.backend, stores.db)
            pruned = await CheckpointPruner(tables, keep).prune(thread)
            took = (time.perf_counter() - started) * 1000
            print(line(f"after pruning to K={keep}", await measure(saver, thread)))
            print(f"\nprune took {took:.0f} ms and deleted {pruned}")
    await squad.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--turns", type=int, default=500)
    parser.add_argument("--keep", type=int, default=20)
    args = parser.parse_args()
    marks = sorted({m for m in (10, 50, 100, 250, 500, args.turns) if m <= args.turns})
    asyncio.run(run(args.database_url, args.turns, args.keep, marks))


if __name__ == "__main__":
    main()
