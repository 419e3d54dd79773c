"""The web chat page (`GET /`, its static files) and the public list of agents it shows.

The page is plain HTML, CSS and JS from `server/static/` (no build step, nothing from a CDN).
`GET /` gives the browser its session cookie (server/auth.py) and renders into the page what
its script needs: the CSRF token, the user id and the active thread, so a reload shows the
conversation again.
"""

from __future__ import annotations

import html
from functools import cache
from pathlib import Path
from typing import Any

import msgspec
from litestar import MediaType, Request, Response, get
from litestar.datastructures import State
from litestar.static_files import create_static_files_router

from server.auth import SESSION_COOKIE, SESSION_MAX_AGE_S, Gatekeeper, new_web_sender

STATIC_DIR = Path(__file__).resolve().parent / "static"
# Badge colours for agents whose YAML names none, in order.
_PALETTE = ("#0f766e", "#c2410c", "#7c3aed", "#1d4ed8", "#be185d", "#4d7c0f")
# Only our own files run on the page: model output never becomes markup (see chat.js), and
# this stops anything that slipped through from loading or running.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class AgentView(msgspec.Struct):
    id: str
    name: str
    display_name: str
    color: str
    description: str


@get(
    "/v1/agents",
    summary="The squad's active agents, as the chat page shows them",
    opt={"access": "public"},
)
async def list_agents(state: State) -> list[AgentView]:
    """The live squad's active agents (the registry's switch), in the YAML's order; a badge
    keeps its colour when another agent is switched off."""
    live = state.chat.live
    if live is not None:
        snapshot = live.current
        agents = [view.agent for view in snapshot.agents.values()]
        active = snapshot.active
    else:
        agents = state.chat.squad.loaded.spec.agents
        active = {agent.id for agent in agents if agent.active}
    return [
        AgentView(
            id=agent.id,
            name=agent.name,
            display_name=agent.display_name or agent.name,
            color=agent.color or _PALETTE[n % len(_PALETTE)],
            description=agent.description,
        )
        for n, agent in enumerate(agents)
        if agent.id in active
    ]


@get("/", include_in_schema=False, opt={"access": "public"})
async def chat_page(request: Request[Any, Any, Any], state: State) -> Response[str]:
    """The page, with this browser's session: a new one (cookie) on the first visit."""
    gatekeeper: Gatekeeper = state.gatekeeper
    signer = gatekeeper.signer
    assert signer is not None, "the lifespan sets the signer"
    sender_id = signer.sender(request.cookies.get(SESSION_COOKIE))
    fresh = sender_id is None
    sender_id = sender_id or new_web_sender()
    user_id = await state.identity.resolve("web", sender_id)
    thread_id = await state.identity.active_thread(user_id) or ""
    page = (
        page_template()
        .replace("{{csrf_token}}", html.escape(signer.csrf_token(sender_id)))
        .replace("{{user_id}}", html.escape(user_id))
        .replace("{{thread_id}}", html.escape(thread_id))
    )
    response = Response(page, media_type=MediaType.HTML, headers=PAGE_HEADERS)
    if fresh:
        response.set_cookie(
            SESSION_COOKIE,
            signer.cookie(sender_id),
            max_age=SESSION_MAX_AGE_S,
            path="/",
            httponly=True,
            # Lax, not Strict: a link to the page (from WhatsApp, say) must bring the cookie,
            # or the visitor would get a new identity; cross-site POSTs never carry it.
            samesite="lax",
            secure=request.url.scheme == "https",
        )
    return response


@cache
def page_template() -> str:
    """`index.html`, read once (at app creation, off the request path)."""
    return (STATIC_DIR / "index.html").read_text(encoding="utf-8")


STATIC_ROUTER = create_static_files_router(
    path="/static", directories=[STATIC_DIR], opt={"access": "public"}, include_in_schema=False
)

WEB_ROUTES = [chat_page, list_agents, STATIC_ROUTER]
