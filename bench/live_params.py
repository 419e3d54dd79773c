"""Per-call CPU of reading an agent's parameters live: a plain model call, `model.bind(...)`,
and call kwargs (`astream(prompt, temperature=…, max_tokens=…)`, what the squad uses).

    python -m bench.live_params

A model that streams three chunks with no I/O, so only LangChain's per-call work is measured;
process CPU time, nine interleaved rounds, medians.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk, ChatResult

CALLS = 3000
ROUNDS = 9


class Echo(BaseChatModel):
    """Three chunks, no I/O."""

    temperature: float = 0.5

    @property
    def _llm_type(self) -> str:
        return "echo"

    def _generate(self, *args: Any, **kwargs: Any) -> ChatResult:
        raise NotImplementedError

    async def _astream(self, *args: Any, **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        for piece in ("a", "b", "c"):
            yield ChatGenerationChunk(message=AIMessageChunk(content=piece))


async def measure() -> dict[str, float]:
    """Median microseconds of CPU per call, by way of passing the parameters."""
    model = Echo()
    bound = model.bind(temperature=0.7, max_tokens=300)
    ways: dict[str, Callable[[], Any]] = {
        "plain": lambda: model.astream("hi"),
        "bind": lambda: bound.astream("hi"),
        "kwargs": lambda: model.astream("hi", temperature=0.7, max_tokens=300),
    }
    samples: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(ROUNDS):
        for name, call in ways.items():
            started = time.process_time()
            for _ in range(CALLS):
                async for _chunk in call():
                    pass
            samples[name].append((time.process_time() - started) / CALLS * 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}


if __name__ == "__main__":
    for name, micros in asyncio.run(measure()).items():
        print(f"{name:>6}: {micros:.0f} µs CPU per call")
