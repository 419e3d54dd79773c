"""The Litestar application: `create_app()` wires settings, the squad graph and the stores."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from functools import partial

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.openapi import OpenAPIConfig

from checkpointing import open_stores
from checkpointing.business import BusinessProfiles, ReminderLog
from checkpointing.ledger import LedgerStore
from checkpointing.memory_pipeline import open_memory
from checkpointing.pending import PendingTurns
from checkpointing.revision_bus import RevisionBus
from checkpointing.turn_log import TurnLog
from core.embeddings import set_default_threads
from core.settings import Settings
from graphs.compiler import build_squad_for
from graphs.live import open_live_squad
from graphs.loader import load_spec
from server.admin_page import ADMIN_PAGE_ROUTES, admin_template
from server.admin_routes import ADMIN_ROUTES
from server.alerts import ALERT_ROUTES, open_evaluator
from server.auth import CSRF_HEADER, Gatekeeper, SessionSigner, guard, load_session_secret
from server.business_routes import BUSINESS_ROUTES
from server.channels.whatsapp import WHATSAPP_ROUTES, open_whatsapp
from server.chat import ChatService
from server.cost_routes import COST_ROUTES
from server.dashboard import DASHBOARD_ROUTES, dashboard_template
from server.errors import exception_to_response
from server.gate import open_gate
from server.memory_routes import MEMORY_ROUTES
from server.metrics import METRICS_ROUTES, Metrics
from server.reminders import ReminderScheduler, open_reminders
from server.request_ids import request_id_middleware
from server.routes import chat, classify, get_thread, healthz, readyz
from server.session_stack import session_hooks
from server.tool_routes import TOOL_ROUTES
from server.tracing import open_tracer
from server.turn_hooks import TurnHooks
from server.user_routes import USER_ROUTES
from server.web import WEB_ROUTES, page_template

log = logging.getLogger("esquadra.server")


def create_app(
    settings: Settings | None = None, environ: Mapping[str, str] | None = None
) -> Litestar:
    """Build the app; the squad and its stores are opened in the lifespan, not at import.

    `environ` replaces the settings' model variables (API keys, base URLs), for tests.
    """
    settings = settings or Settings.from_env()
    if environ is not None:
        settings = settings.model_copy(update={"environ": dict(environ)})

    gatekeeper = Gatekeeper(settings.api_key, settings.admin_token)
    metrics = Metrics(settings.prometheus_multiproc_dir)
    page_template()  # read once, here, not on the event loop
    admin_template()
    dashboard_template()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        set_default_threads(settings.embed_threads or 1)
        secret = await asyncio.to_thread(
            load_session_secret, settings.session_secret, settings.data_dir
        )
        gatekeeper.signer = SessionSigner(secret)
        if gatekeeper.open:
            log.warning(
                "ESQUADRA_API_KEY is not set: /v1 is open to every caller that can reach it"
            )
        if not gatekeeper.admin_enabled:
            log.warning("ADMIN_TOKEN is not set: the admin API (/admin/api) is disabled")
        loaded = load_spec(settings.config_path)
        squad = await asyncio.to_thread(build_squad_for, loaded, settings)
        spec = loaded.spec
        metrics.agents = frozenset(agent.id for agent in spec.agents)
        async with (
            open_stores(settings) as stores,
            open_memory(stores, enabled=spec.memory.enabled) as memory,
        ):
            identity, recorder = session_hooks(stores, spec.sessions)
            # The graph writes through a fenced view of the checkpointer (see server/gate.py).
            gate, fenced = await open_gate(spec.sessions, stores)
            graph = squad.builder.compile(checkpointer=fenced)
            bus = RevisionBus(stores.redis, settings.redis_prefix) if stores.redis else None
            live = await open_live_squad(squad, stores.db, bus)
            turn_log = TurnLog(stores.db)
            turn_log.start()
            alerts = open_evaluator(
                spec.alerts,
                stores,
                settings.environ,
                settings.redis_prefix,
                spec.defaults.fallback_agent,
            )
            alerts.start()
            identity.on_merge(memory.merge_user)  # linking two users moves facts too
            hooks = TurnHooks(
                identity=identity,
                sessions=recorder,
                gate=gate,
                memory=memory,
                pending=PendingTurns(stores.db),
                turns=turn_log,
                metrics=metrics,
            )
            tracer = open_tracer(settings, secret)
            metrics.watch_redis(stores.redis)
            metrics.start()
            chat = ChatService(
                squad,
                graph,
                hooks=hooks,
                live=live,
                ledger=LedgerStore(stores.db),
                profiles=BusinessProfiles(stores.db),
                tracer=tracer,
            )
            app.state.update(
                settings=settings,
                gatekeeper=gatekeeper,
                checkpointer=stores.checkpointer,
                redis=stores.redis.client if stores.redis is not None else None,
                identity=identity,
                memory=memory,
                chat=chat,
                turn_log=turn_log,
                alerts=alerts,
                metrics=metrics,
            )
            offline = sorted(a for a in squad.runtimes if squad.is_offline(a))
            log.info(
                "squad ready: agents=%s offline=%s store=%s redis=%s",
                sorted(live.current.active),
                offline,
                stores.backend,
                "on" if stores.redis is not None else "off",
            )
            try:
                # Closed first: its replies still running are given back before turns stop.
                async with (
                    open_whatsapp(
                        settings, spec.channels.whatsapp, stores.db, chat, identity
                    ) as whatsapp,
                    open_reminders(
                        ReminderScheduler(
                            spec.reminders,
                            BusinessProfiles(stores.db),
                            ReminderLog(stores.db),
                            identity.store,
                            whatsapp.notify if whatsapp is not None else None,
                        )
                    ) as reminders,
                ):
                    app.state.whatsapp = whatsapp
                    app.state.reminders = reminders
                    yield
            finally:
                await app.state.chat.aclose()  # turns still saving, before their stores close
                await turn_log.aclose()  # their rows, written before the database closes
                await alerts.aclose()
                await live.aclose()
                await gate.aclose()
                if recorder.pruner is not None:
                    await recorder.pruner.aclose()
                await squad.aclose()
                if tracer is not None:  # what is queued goes out, for two seconds at most
                    await asyncio.to_thread(tracer.close)
                await metrics.aclose()

    return Litestar(
        route_handlers=[
            chat,
            classify,
            get_thread,
            healthz,
            readyz,
            *USER_ROUTES,
            *MEMORY_ROUTES,
            *TOOL_ROUTES,
            *BUSINESS_ROUTES,
            *WEB_ROUTES,
            *WHATSAPP_ROUTES,
            *ADMIN_ROUTES,
            *ALERT_ROUTES,
            *DASHBOARD_ROUTES,
            *COST_ROUTES,
            *ADMIN_PAGE_ROUTES,
            *METRICS_ROUTES,
        ],
        guards=[guard],
        cors_config=_cors(settings),
        lifespan=[lifespan],
        exception_handlers={Exception: exception_to_response},
        # One wrapper: the request id, and the request counted when it ends.
        middleware=[partial(request_id_middleware, observe=metrics.count_request)],
        openapi_config=OpenAPIConfig(title="Esquadra", version="0.1.0", path="/schema"),
        # Logging is configured by the process (`esquadra serve --log-level`); Litestar's default
        # would put the root logger at INFO and log every model request on the hot path.
        logging_config=None,
    )


def _cors(settings: Settings) -> CORSConfig | None:
    """Browsers on the allow-listed origins may call the API (with the key, never with the
    page's cookie: no credentials); none by default."""
    origins = settings.cors_allow_list
    if not origins:
        return None
    return CORSConfig(
        allow_origins=origins,
        allow_methods=["GET", "POST", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "Accept", CSRF_HEADER],
        expose_headers=["X-Thread-Id", "X-Request-Id"],
        allow_credentials=False,
        max_age=600,
    )
