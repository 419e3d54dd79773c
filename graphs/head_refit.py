"""Refit the routing head in the background when the live routing examples change.

An admin edit of `routing_examples` (or a `sync` of `keywords`) reaches the workers as a new
`LiveAgents` snapshot; the router's semantic head was trained on other examples. `HeadRefitter`
re-embeds only the new examples (on the embedding thread) and fits the new head's models in a
child process, driven from an executor of its own, never from the event loop; then it hands a
new `Router` (`Router.with_head`) to `on_ready`, which swaps it into the next snapshot. Until
then the old head serves; a failed refit is logged and the old head keeps serving (the next
registry revision tries again). Edits that arrive during a refit coalesce: only the latest
examples are fitted next, and a head fitted on examples superseded meanwhile is dropped. One
refit at a time.

The refitted head lives in memory only. A restart trains the YAML's head (embeddings cached on
disk) and the first registry snapshot refits it again: the few live examples are embedded anew
(~15 ms each), then the fit (seconds, in the background; numbers in docs/routing.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from graphs.loader import LoadedSpec
from graphs.routing import head_training_set, refit_head, training_digest, with_agents
from graphs.schema import Agent
from nodes.routing import HeadModels, Router, fit_head_models

log = logging.getLogger("esquadra.routing")

# What the head trains on from each agent: a change in any of these needs a refit.
RoutingKey = tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]


def routing_key(agents: Sequence[Agent]) -> RoutingKey:
    """The agents' routing examples and keywords, in squad order (cheap: compared per refresh)."""
    return tuple((a.id, tuple(a.routing.examples), tuple(a.routing.keywords)) for a in agents)


@dataclass(frozen=True)
class HeadState:
    """Which examples the serving head was trained on, for /readyz."""

    digest: str  # `training_digest` of its training set (compare with the fitted file's)
    revision: int | None  # registry revision its examples came from; None: the YAML's
    refitted_at: datetime | None
    refitting: bool
    error: str | None  # the last refit's failure, until a refit succeeds


class HeadRefitter:
    """Keeps one router whose head matches the latest routing examples it was asked for."""

    def __init__(
        self,
        loaded: LoadedSpec,
        router: Router,
        on_ready: Callable[[Router], None],
        executor: Executor | None = None,
    ) -> None:
        """`router`: serving now, trained on `loaded`'s agents. `executor` runs the fit (one
        thread of its own by default; tests pass one they control)."""
        self.loaded = loaded
        self.router = router
        self._on_ready = on_ready
        self._own_executor = executor is None
        self._executor = executor or ThreadPoolExecutor(1, thread_name_prefix="esquadra-refit")
        self._serving = routing_key(loaded.spec.agents)
        self._digest: str | None = None
        self._revision: int | None = None
        self._refitted_at: datetime | None = None
        self._error: str | None = None
        self._wanted: tuple[RoutingKey, Sequence[Agent], int] | None = None
        self._task: asyncio.Task[None] | None = None

    def want(self, agents: Sequence[Agent], revision: int) -> None:
        """Ask for a head on these agents' examples (registry `revision`); returns at once."""
        key = routing_key(agents)
        if not self.refitting and key == self._serving:
            return
        self._wanted = (key, tuple(agents), revision)
        if not self.refitting and self.router.head is not None:
            self._task = asyncio.create_task(self._run(), name="routing-refit")
            self._task.add_done_callback(_log_crash)

    @property
    def refitting(self) -> bool:
        """A refit runs (or is about to: edits wait for the running one to end)."""
        return self._task is not None and not self._task.done()

    async def settled(self) -> None:
        """Wait until no refit runs (tests; a refit never raises out of its task)."""
        while self._task is not None and not self._task.done():
            await asyncio.wait([self._task])

    def state(self) -> HeadState:
        """The serving head's examples and the last refit's outcome."""
        if self._digest is None:  # the start-up head's, computed on first ask (~1 ms)
            head = self.router.head
            self._digest = training_digest(head.texts, head.labels) if head else ""
        return HeadState(
            self._digest, self._revision, self._refitted_at, self.refitting, self._error
        )

    async def aclose(self) -> None:
        """Stop refitting (a fit already on its thread finishes there, unused)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._own_executor:
            self._executor.shutdown(wait=False, cancel_futures=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._wanted is not None and self._wanted[0] != self._serving:
            key, agents, revision = self._wanted
            base = self.router
            try:
                router, digest = await loop.run_in_executor(self._executor, self._fit, base, agents)
            except Exception as exc:
                log.exception(
                    "refitting the routing head for registry revision %d failed; the previous "
                    "head keeps serving",
                    revision,
                )
                self._error = f"revision {revision}: {type(exc).__name__}: {exc}"
                if self._wanted is not None and self._wanted[0] == key:
                    self._wanted = None  # retried when the registry moves again
                continue
            if self._wanted is None or self._wanted[0] != key:
                log.info("routing head for revision %d superseded before use", revision)
                continue
            self.router, self._serving, self._digest = router, key, digest
            self._revision, self._refitted_at, self._error = revision, datetime.now(UTC), None
            self._on_ready(router)
            log.info("routing head refitted for registry revision %d (%s)", revision, digest)
        self._wanted = None

    def _fit(self, base: Router, agents: Sequence[Agent]) -> tuple[Router, str]:
        """On the executor: the training set with these agents, a new head, a new router."""
        texts, labels = head_training_set(with_agents(self.loaded, agents))
        head = base.head
        if head is None:  # `want` starts no refit without one
            raise RuntimeError("the router has no semantic head to refit")
        new_head = refit_head(head, texts, labels, fit=fit_apart)
        return base.with_head(new_head), training_digest(texts, labels)


def fit_apart(texts: Sequence[str], labels: Sequence[str], embeddings: object) -> HeadModels:
    """`fit_head_models` in a fresh child process, waited for by the calling thread.

    On a thread of the serving process the fit stalled the event loop: scipy's L-BFGS holds the
    GIL for long stretches (measured while refitting the shipped squad: loop lag p99 331 ms,
    max 405 ms). A child costs ~1 s to start and the models' pickle on the way back."""
    context = multiprocessing.get_context("spawn")  # no fork of a process running threads
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(fit_head_models, list(texts), list(labels), embeddings).result()


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the routing refit loop stopped", exc_info=task.exception())
