"""The Litestar application: `create_app()` wires settings, the squad graph and the stores."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.openapi import OpenAPIConfig

from checkpointing import describe_backend, open_checkpointer
from checkpointing.locks import redis_prefix
from checkpointing.memory_pipeline import open_memory
from graphs.compiler import build_squad
from graphs.loader import load_spec
from server.chat import ChatService
from server.errors import exception_to_response
from server.gate import open_gate
from server.memory_routes import MEMORY_ROUTES
from server.routes import chat, classify, get_thread, healthz, readyz
from server.session_stack import open_session_stack
from server.settings import Settings
from server.turn_hooks import TurnHooks
from server.user_routes import USER_ROUTES

log = logging.getLogger("esquadra.server")


def create_app(
    settings: Settings | None = None, environ: Mapping[str, str] | None = None
) -> Litestar:
    """Build the app; the squad and its stores are opened in the lifespan, not at import.

    `environ` holds the model profiles' variables (API keys, base URLs); default: the process's.
    """
    settings = settings or Settings.from_env()
    model_env = os.environ if environ is None else environ

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        loaded = load_spec(settings.config_path)
        squad = await asyncio.to_thread(
            build_squad,
            loaded,
            model_env,
            offline=settings.offline,
            cache_dir=settings.embeddings_cache,
        )
        async with (
            open_checkpointer(settings.database_url, settings.data_dir) as checkpointer,
            open_session_stack(settings, loaded.spec.sessions, checkpointer) as sessions,
            open_memory(
                settings.database_url,
                settings.data_dir,
                settings.redis_url,
                enabled=loaded.spec.memory.enabled,
            ) as memory,
        ):
            redis = _redis_client(settings.redis_url)
            # The graph writes through a fenced view of the checkpointer (see server/gate.py).
            gate, fenced = await open_gate(
                loaded.spec.sessions, settings.redis_url, redis_prefix(), checkpointer
            )
            graph = squad.builder.compile(checkpointer=fenced)
            if hasattr(memory, "merge_user"):  # linking two users moves their facts too
                sessions.identity.on_merge(memory.merge_user)
            hooks = TurnHooks(
                identity=sessions.identity, sessions=sessions.recorder, gate=gate, memory=memory
            )
            app.state.update(
                settings=settings,
                checkpointer=checkpointer,
                redis=redis,
                sessions=sessions,
                identity=sessions.identity,
                memory=memory,
                chat=ChatService(squad, graph, hooks=hooks),
            )
            offline = sorted(a for a in squad.runtimes if squad.is_offline(a))
            log.info(
                "squad ready: agents=%s offline=%s checkpoints=%s",
                list(squad.runtimes),
                offline,
                describe_backend(settings.database_url),
            )
            try:
                yield
            finally:
                await app.state.chat.aclose()  # turns still saving, before their stores close
                await gate.aclose()
                await squad.aclose()
                if redis is not None:
                    await redis.aclose()

    return Litestar(
        route_handlers=[chat, classify, get_thread, healthz, readyz, *USER_ROUTES, *MEMORY_ROUTES],
        lifespan=[lifespan],
        exception_handlers={Exception: exception_to_response},
        openapi_config=OpenAPIConfig(title="Esquadra", version="0.1.0", path="/schema"),
        # Logging is configured by the process (`esquadra serve --log-level`); Litestar's default
        # would put the root logger at INFO and log every model request on the hot path.
        logging_config=None,
    )


def _redis_client(url: str | None):  # type: ignore[no-untyped-def]
    if url is None:
        return None
    from redis.asyncio import Redis

    return Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
