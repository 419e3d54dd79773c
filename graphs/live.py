"""The live squad: the registry's current versions as one immutable snapshot, kept fresh.

`LiveSquad.current` is a `LiveAgents` snapshot (agent → config, persona, bound model,
colleagues; the active set). The chat service puts it in each turn's `SquadContext`, so a turn
runs on the snapshot it started with. A background task polls the registry's `revision()` (one
primary-key read) every `interval_s` and rebuilds the snapshot only when it moved: no database
read per turn. Models are built once per profile (with the squad); an agent's temperature and
max_tokens go with each call as `astream(prompt, temperature=…, max_tokens=…)`.

With Redis, a write is also announced on pub/sub (`checkpointing/revision_bus.py`): the worker
that wrote refreshes at once (`announce`), the others when they hear it; the poll stays, since
pub/sub can drop a message and Redis may be down or absent.

The snapshot also carries the router. When a refresh brings other routing examples than the
serving head was trained on, `HeadRefitter` refits the head in the background and, once ready,
the current snapshot is replaced by a copy with the new router (same revision): turns already
running keep the router they started with.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Mapping
from concurrent.futures import Executor
from types import MappingProxyType
from typing import Any

from checkpointing.registry import AgentRegistry
from checkpointing.revision_bus import RevisionBus
from graphs.agent_edits import agent_config, agent_from_config
from graphs.compiler import Squad
from graphs.head_refit import HeadRefitter, HeadState
from graphs.registry import seed
from graphs.routing import FIT_COMMAND, FitState, compare_fit, fit_state
from nodes.agent import LiveAgent, LiveAgents
from nodes.routing import Router

log = logging.getLogger("esquadra.registry")

POLL_INTERVAL_S = 0.5


def build_live_agents(
    squad: Squad,
    configs: Mapping[str, Mapping[str, Any]],
    revision: int,
    router: Router | None = None,
) -> LiveAgents:
    """The snapshot for these configs (agent id → registry config). Compiled agents the registry
    lacks keep their YAML config; registry agents the squad did not compile are ignored (their
    node, knowledge and routing examples come from the YAML)."""
    spec = squad.loaded.spec
    agents = {}
    for agent_id, runtime in squad.runtimes.items():
        config = configs.get(agent_id)
        agent = agent_from_config(config) if config is not None else runtime.agent
        agents[agent_id] = (agent, str(config["prompt_text"]) if config else runtime.persona)
    active = frozenset(a for a, (agent, _) in agents.items() if agent.active)
    live = {}
    for agent_id, (agent, persona) in agents.items():
        model = squad.profile_models.get(agent.model)
        colleagues = "\n".join(
            f"- {other.name} (@{other.id}): {other.description}"
            for other, _ in agents.values()
            if other.id != agent_id and other.id in active
        )
        live[agent_id] = LiveAgent(
            agent=agent,
            persona=persona,
            model=model,
            colleagues=colleagues,
            reply_timeout_s=spec.models[agent.model].timeout_s,
            params=MappingProxyType(
                {"temperature": agent.temperature, "max_tokens": agent.max_tokens}
            ),
        )
    return LiveAgents(MappingProxyType(live), active, revision, router)


def yaml_live_agents(squad: Squad) -> LiveAgents:
    """The snapshot of the YAML as compiled (revision -1: any registry revision replaces it)."""
    configs = {a: agent_config(rt.agent, rt.persona) for a, rt in squad.runtimes.items()}
    return build_live_agents(squad, configs, -1, squad.router)


class LiveSquad:
    """Holds the current snapshot and refreshes it when the registry's revision moves."""

    def __init__(
        self,
        squad: Squad,
        store: AgentRegistry,
        interval_s: float = POLL_INTERVAL_S,
        bus: RevisionBus | None = None,
        *,
        refit_executor: Executor | None = None,
        fit: FitState | None = None,
    ) -> None:
        """`refit_executor` fits new routing heads (a thread of its own by default); `fit` is
        the fitted file's state read at start (`fit_state`), None when nobody read it."""
        self.squad = squad
        self.store = store
        self.interval_s = interval_s
        self.bus = bus  # None: no Redis, the poll alone
        self.current = yaml_live_agents(squad)
        self.refitter = HeadRefitter(squad.loaded, squad.router, self._swap_router, refit_executor)
        self.fit = fit
        self.subscribed = asyncio.Event()  # set while the pub/sub listener is subscribed
        self._tasks: list[asyncio.Task[None]] = []
        # The poll, the listener and a local write may refresh at once: one at a time, so an
        # older snapshot built slowly can never replace a newer one.
        self._refreshing = asyncio.Lock()

    async def refresh(self) -> bool:
        """Reload when the revision moved; True when the snapshot was swapped."""
        async with self._refreshing:
            revision = await self.store.revision()
            if revision == self.current.revision:
                return False
            versions = await self.store.current()
            configs = {agent_id: v.config for agent_id, v in versions.items()}
            # One assignment: a turn starting now sees the old snapshot or the new one, whole.
            self.current = build_live_agents(self.squad, configs, revision, self.refitter.router)
        log.info("registry revision %d: active=%s", revision, sorted(self.current.active))
        # Other routing examples: a new head in the background (the current one serves).
        self.refitter.want([a.agent for a in self.current.agents.values()], revision)
        return True

    def _swap_router(self, router: Router) -> None:
        """A refitted head is ready: the snapshot again, with the new router (on the loop)."""
        self.current = dataclasses.replace(self.current, router=router)

    def routing_fit(self) -> tuple[FitState | None, HeadState]:
        """The fitted file against the serving head's examples (None: not read at start), and
        where the serving head's examples came from. No I/O: cheap enough for /readyz."""
        head = self.refitter.state()
        return (compare_fit(self.fit, head.digest) if self.fit else None), head

    async def announce(self) -> None:
        """After a write here: refresh this worker now and tell the others (pub/sub)."""
        await self.refresh()
        if self.bus is not None:
            await self.bus.publish(self.current.revision)

    def start(self) -> None:
        """Poll (and listen, with Redis) in the background until `aclose()`."""
        self._tasks.append(asyncio.create_task(self._poll(), name="registry-poll"))
        if self.bus is not None:
            listen = self.bus.listen(self._heard, self.subscribed)
            self._tasks.append(asyncio.create_task(listen, name="registry-pubsub"))

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.refitter.aclose()

    async def _heard(self, revision: int | None) -> None:
        """A revision announced on pub/sub (None: just (re)subscribed, maybe missed some)."""
        if revision is not None and revision <= self.current.revision:
            return  # this worker wrote it, or already polled it
        try:
            await self.refresh()
        except Exception:  # a database blip: the poll will retry
            log.warning("registry refresh after pub/sub failed; the poll will retry")

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.refresh()
            except Exception:  # a database blip: keep serving the snapshot we have
                log.warning("registry poll failed; keeping revision %d", self.current.revision)


async def open_live_squad(squad: Squad, db: Any, bus: RevisionBus | None = None) -> LiveSquad:
    """At start: seed the registry with YAML agents it lacks, load its snapshot, start polling
    (and listening on `bus`, with Redis)."""
    store = AgentRegistry(db)
    added = await seed(store, squad.loaded)
    if added:
        log.info("registry seeded from the YAML: %s", added)
    fit = await asyncio.to_thread(fit_state, squad.loaded)
    if fit.status == "stale":
        log.warning(
            "%s was fitted on other routing examples than the YAML's: run `%s`",
            fit.path,
            FIT_COMMAND,
        )
    live = LiveSquad(squad, store, bus=bus, fit=fit)
    await live.refresh()
    live.start()
    return live
