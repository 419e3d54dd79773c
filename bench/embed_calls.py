"""How many model embeddings the chat path asks for, and for whom: `bench.inprocess` with a count.

Wraps our own `Embedder._query` (the one place a text reaches the e5 model) and attributes each
call to routing, memory recall or fact storage by its caller::

    python -m bench.embed_calls --turns 300 --concurrency 20 --checkpointer postgres \
        --redis-url redis://127.0.0.1:6379/0
"""

from __future__ import annotations

import collections
import sys
import time
import traceback

import core.embeddings as embeddings
from bench.inprocess import main as inprocess_main

_CALLERS = (("memory_pipeline", "facts"), ("memory_store", "recall"), ("_semantic", "route"))


def _caller() -> str:
    for frame in traceback.extract_stack(limit=14):
        for marker, name in _CALLERS:
            if marker in frame.filename:
                return name
    return "other"


def main(argv: list[str] | None = None) -> int:
    texts: collections.Counter[str] = collections.Counter()
    cpu: collections.Counter[str] = collections.Counter()
    original = embeddings.Embedder._query

    def counted(self: embeddings.Embedder, batch: list[str]):  # type: ignore[no-untyped-def]
        who = _caller()
        started = time.thread_time()
        try:
            return original(self, batch)
        finally:
            cpu[who] += time.thread_time() - started
            texts[who] += len(batch)

    embeddings.Embedder._query = counted  # type: ignore[method-assign]
    try:
        code = inprocess_main(argv)
    finally:
        embeddings.Embedder._query = original  # type: ignore[method-assign]
    per_text = {k: round(1000 * cpu[k] / texts[k], 1) for k in texts}
    print({"embedded_texts": dict(texts), "cpu_ms_per_text": per_text})
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
