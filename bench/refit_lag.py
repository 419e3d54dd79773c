"""What a live refit of the routing head costs: its wall time, and the event loop's lag meanwhile.

    python -m bench.refit_lag [--in-thread] [--new 5]

Adds `--new` examples to Lia (as an admin edit would), refits the shipped squad's head as
`graphs/head_refit.py` does (new examples embedded on the embedding thread, the models fitted
in a child process; `--in-thread` fits on the calling thread instead) while a task on the loop
sleeps 5 ms at a time and records how late it wakes.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

from graphs.head_refit import fit_apart
from graphs.loader import load_spec
from graphs.routing import build_router, head_training_set, refit_head, with_agents
from nodes.routing import fit_head_models

TICK_S = 0.005


async def measure(new: int, in_thread: bool, cache: Path) -> str:
    loaded = load_spec("agents.yaml")
    router = build_router(loaded, cache_dir=cache, include_llm=False)
    head = router.head
    assert head is not None
    examples = [f"exemplo novo {i} sobre o bolao da equipe ({time.time()})" for i in range(new)]
    agents = [
        a.model_copy(
            update={
                "routing": a.routing.model_copy(
                    update={"examples": [*a.routing.examples, *examples]}
                )
            }
        )
        if a.id == "lia"
        else a
        for a in loaded.spec.agents
    ]
    texts, labels = head_training_set(with_agents(loaded, agents))
    fit = fit_head_models if in_thread else fit_apart
    lags: list[float] = []

    async def probe() -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(TICK_S)
            lags.append(time.perf_counter() - started - TICK_S)

    task = asyncio.create_task(probe())
    started = time.perf_counter()
    await asyncio.to_thread(refit_head, head, texts, labels, fit)
    wall = time.perf_counter() - started
    task.cancel()
    lags.sort()
    p99 = lags[int(len(lags) * 0.99)] * 1000
    return (
        f"{'thread' if in_thread else 'child process'}, {new} new examples: refit {wall:.2f} s; "
        f"loop lag p50 {lags[len(lags) // 2] * 1000:.1f} ms, p99 {p99:.1f} ms, "
        f"max {lags[-1] * 1000:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--in-thread", action="store_true")
    parser.add_argument("--new", type=int, default=5)
    parser.add_argument("--cache", default=".esquadra/cache")
    args = parser.parse_args()
    print(asyncio.run(measure(args.new, args.in_thread, Path(args.cache))))


if __name__ == "__main__":
    main()
