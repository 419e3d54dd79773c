"""Readiness: the config loaded, the checkpoint store answers a read, Redis answers a ping.

Redis down is `degraded` (HTTP 200): the squad keeps answering from the durable stores.
"""

from __future__ import annotations

import asyncio
from typing import Any

from server.schemas import Readiness

_TIMEOUT_S = 2.0


async def check_readiness(state: Any) -> Readiness:
    database = await _probe(_database(state))
    redis = "not_configured" if state.redis is None else await _probe(state.redis.ping())
    if database != "ok":
        status = "not_ready"
    elif redis in {"ok", "not_configured"}:
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
    )


async def _database(state: Any) -> None:
    # A real read through the same saver the chat uses, whatever the backend.
    await state.checkpointer.aget_tuple({"configurable": {"thread_id": "__readyz__"}})


async def _probe(check: Any) -> str:
    try:
        await asyncio.wait_for(check, _TIMEOUT_S)
    except Exception as exc:
        return f"error: {type(exc).__name__}"
    return "ok"
