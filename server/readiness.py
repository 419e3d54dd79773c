"""Readiness: the config loaded, the checkpoint store answers a read, Redis answers a ping,
and whether the routing fit matches the serving head's examples.

Redis down is `degraded` (HTTP 200): the squad keeps answering from the durable stores. So is
a stale routing fit: every message is still routed, by a head trained on the current examples
but with thresholds fitted on others.
"""

from __future__ import annotations

import asyncio
from typing import Any

from graphs.routing import FIT_COMMAND
from server.schemas import Readiness, RoutingHead

_TIMEOUT_S = 2.0
_EXPORT = "esquadra export --out agents.yaml"


async def check_readiness(state: Any) -> Readiness:
    database = await _probe(_database(state))
    redis = "not_configured" if state.redis is None else await _probe(state.redis.ping())
    routing, fix, head = _routing(state)
    if database != "ok":
        status = "not_ready"
    elif redis in {"ok", "not_configured"} and routing != "stale":
        status = "ready"
    else:
        # Redis only holds what can be rebuilt (hot sessions, codes): chat answers without it.
        status = "degraded"
    return Readiness(
        status=status,
        config=str(state.settings.config_path),
        database=database,
        redis=redis,
        agents=[agent.id for agent in state.chat.squad.loaded.spec.active_agents()],
        routing=routing,
        routing_fix=fix,
        routing_head=head,
    )


def _routing(state: Any) -> tuple[Any, str | None, RoutingHead]:
    live = state.chat.live
    if live is None:  # no registry: the YAML's head, never refitted
        return "not_fitted", None, RoutingHead("agents.yaml", None, False, None)
    fit, head = live.routing_fit()
    status = fit.status if fit is not None else "not_fitted"
    examples = "agents.yaml" if head.revision is None else f"registry revision {head.revision}"
    fix = None
    if status == "stale":
        # After a live edit the fit must be redone on the live examples, so they go to git first.
        fix = FIT_COMMAND if head.revision is None else f"{_EXPORT} && {FIT_COMMAND}"
    refitted = head.refitted_at.isoformat() if head.refitted_at else None
    return status, fix, RoutingHead(examples, refitted, head.refitting, head.error)


async def _database(state: Any) -> None:
    # A real read through the same saver the chat uses, whatever the backend.
    await state.checkpointer.aget_tuple({"configurable": {"thread_id": "__readyz__"}})


async def _probe(check: Any) -> str:
    try:
        await asyncio.wait_for(check, _TIMEOUT_S)
    except Exception as exc:
        return f"error: {type(exc).__name__}"
    return "ok"
