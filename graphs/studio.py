"""The squad graph for LangGraph Studio (`langgraph dev`), referenced from `langgraph.json`.

`make_graph` is a graph *factory*, not a module-level graph: langgraph-api treats any callable
named in `langgraph.json` as a factory (`langgraph_api._factory_utils.classify_factory`) and calls
it for every run and every graph read (schemas, drawing), with the run's `RunnableConfig` as its one
argument. What it returns may be an async context manager
(`langgraph_api.asyncio.as_asynccontextmanager`); the run happens inside it. So:

- importing this module builds nothing (no YAML read, no routing head, no connection pool);
- the squad is built on first use, off the event loop (building it is seconds of CPU), then reused;
- it is rebuilt when the YAML or any file it read (prompts, knowledge, routing data) changes, so an
  edit shows in Studio's next run without restarting `langgraph dev` (which reloads on .py only);
- a replaced squad's model connection pool is closed once no run uses it any more.

The graph is compiled without a checkpointer: the LangGraph server supplies its own persistence.

Settings come from `core/settings.py`, like the server's (`ESQUADRA_CONFIG`, `ESQUADRA_OFFLINE`,
`ESQUADRA_DATA_DIR`, `ESQUADRA_CACHE_DIR`, the model variables); relative paths are taken from the
repository root (not the cwd, which `langgraph dev` does not pin).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph

from core.settings import Settings
from graphs.compiler import Squad, build_squad_for
from graphs.loader import LoadedSpec, load_spec
from graphs.state import SquadContext, SquadState

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class StudioContext(SquadContext):
    """`SquadContext` as Studio sends it: JSON, so `today` arrives as an ISO date string.

    Same fields and JSON schema (Studio shows user_id, channel and today as run inputs); only the
    string date is parsed, which `SquadContext` itself does not do.
    """

    def __post_init__(self) -> None:
        if isinstance(self.today, str):
            object.__setattr__(self, "today", date.fromisoformat(self.today))


def studio_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """The service's settings, with relative paths taken from the repository root (the cwd of
    `langgraph dev` is not pinned)."""
    settings = Settings.from_env(environ)
    cache = settings.cache_dir
    return settings.model_copy(
        update={
            "config_path": REPO_ROOT / settings.config_path.expanduser(),
            "data_dir": REPO_ROOT / settings.data_dir,
            "cache_dir": REPO_ROOT / cache if cache is not None else None,
        }
    )


@dataclass(frozen=True)
class _TrackedSpec(LoadedSpec):
    """A LoadedSpec that remembers every file the build resolved, to notice edits to them."""

    used: set[Path] = field(default_factory=set, compare=False)

    def resolve(self, relative: str) -> Path:
        path = super().resolve(relative)
        self.used.add(path)
        return path


def build_studio_squad(settings: Settings) -> Squad:
    """The squad from the YAML and the settings, with Studio's context schema."""
    loaded = load_spec(settings.config_path)
    tracked = _TrackedSpec(spec=loaded.spec, path=loaded.path, base_dir=loaded.base_dir)
    squad = build_squad_for(tracked, settings)
    squad.builder.context_schema = StudioContext
    return squad


Fingerprint = tuple[tuple[str, int | None], ...]


def _fingerprint(files: frozenset[Path]) -> Fingerprint:
    def mtime(path: Path) -> int | None:
        try:
            return path.stat().st_mtime_ns
        except OSError:
            return None

    return tuple((str(path), mtime(path)) for path in sorted(files))


@dataclass
class _Built:
    squad: Squad
    graph: CompiledStateGraph[SquadState, SquadContext, SquadState, SquadState]
    key: tuple[Path, bool]
    files: frozenset[Path]
    fingerprint: Fingerprint
    users: int = 0
    replaced: bool = False
    closed: bool = False


class _SquadCache:
    """One squad per process, rebuilt when its settings or source files change."""

    def __init__(self) -> None:
        # A thread lock: langgraph-api may run the API and the run queue on different loops.
        self._lock = threading.Lock()
        self._current: _Built | None = None

    def _fresh(self, key: tuple[Path, bool]) -> _Built | None:
        current = self._current
        if current is None or current.key != key:
            return None
        return current if _fingerprint(current.files) == current.fingerprint else None

    async def acquire(self, settings: Settings) -> _Built:
        key = (settings.config_path, settings.offline)
        with self._lock:
            built = self._fresh(key)
            if built is not None:
                built.users += 1
                return built
        built = await asyncio.to_thread(self._build, settings, key)
        with self._lock:
            old, self._current = self._current, built
            built.users += 1
            if old is not None:
                old.replaced = True
        if old is not None:
            await self._close_if_unused(old)
        return built

    async def release(self, built: _Built) -> None:
        with self._lock:
            built.users -= 1
        await self._close_if_unused(built)

    async def _close_if_unused(self, built: _Built) -> None:
        with self._lock:
            close = built.replaced and built.users == 0 and not built.closed
            built.closed = built.closed or close
        if close:
            await built.squad.aclose()

    @staticmethod
    def _build(settings: Settings, key: tuple[Path, bool]) -> _Built:
        squad = build_studio_squad(settings)
        loaded = squad.loaded
        used = loaded.used if isinstance(loaded, _TrackedSpec) else set()
        files = frozenset({loaded.path, *used})
        # Fingerprint after building: an edit made during the build triggers another one.
        return _Built(squad, squad.builder.compile(), key, files, _fingerprint(files))


_CACHE = _SquadCache()


@asynccontextmanager
async def make_graph(
    config: RunnableConfig,
) -> AsyncIterator[CompiledStateGraph[SquadState, SquadContext, SquadState, SquadState]]:
    """Graph factory for `langgraph.json`; `config` (the run's) does not change the graph."""
    del config  # part of the factory signature langgraph-api calls; the squad is per-YAML
    built = await _CACHE.acquire(studio_settings())
    try:
        yield built.graph
    finally:
        await _CACHE.release(built)
