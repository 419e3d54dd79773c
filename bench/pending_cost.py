"""CPU per turn of keeping the user's message durable (`pending_turns`: begin + finish).

    python -m bench.pending_cost --database-url postgresql://postgres@127.0.0.1:5432/x
    python -m bench.pending_cost            # the embedded default's SQLite file

Measures the process CPU (`time.process_time`) and wall time of `begin` + `finish` over N turns
on distinct threads, the two statements every turn now pays, in one process with nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path

from checkpointing import open_stores
from checkpointing.pending import PendingTurns
from core.settings import Settings


async def measure(database_url: str | None, turns: int) -> tuple[float, float]:
    """(CPU ms per turn, wall ms per turn)."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=database_url, data_dir=Path(tmp))
        async with open_stores(settings) as stores:
            pending = PendingTurns(stores.db)
            for _ in range(50):  # warm the pool and the statements
                await pending.begin("warm", uuid.uuid4().hex, "oi", None, "web")
            cpu, wall = time.process_time(), time.perf_counter()
            for n in range(turns):
                turn = uuid.uuid4().hex
                await pending.begin(f"t-{n}", turn, "registra 1.500 de venda hoje", "u", "web")
                await pending.finish(f"t-{n}", turn)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu * 1000 / turns, wall * 1000 / turns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="postgresql://… (default: SQLite in a temp dir)")
    parser.add_argument("--turns", type=int, default=2000)
    args = parser.parse_args()
    cpu, wall = asyncio.run(measure(args.database_url, args.turns))
    backend = "postgres" if args.database_url else "sqlite"
    print(f"{backend}: {cpu:.3f} ms CPU and {wall:.3f} ms wall per turn (begin + finish)")


if __name__ == "__main__":
    main()
