"""The admin page (`GET /admin`): plain HTML, CSS and JS from `server/static/admin.*`.

The page holds no secret of its own: the operator types `ADMIN_TOKEN`, the script keeps it in
`sessionStorage` (this tab, until it closes or "Sair") and sends it as
`Authorization: Bearer` to `/admin/api` — the same single check every admin call passes
(server/auth.py). The browser never attaches it by itself, so there is no cookie to ride and
no CSRF token to carry; it never goes into a URL. The page is told only whether the admin API
is on, so it can say so instead of offering a sign-in that cannot work.
"""

from __future__ import annotations

from functools import cache

from litestar import MediaType, Response, get
from litestar.datastructures import State

from server.auth import Gatekeeper
from server.web import PAGE_HEADERS, STATIC_DIR


@get("/admin", include_in_schema=False, opt={"access": "public"})
async def admin_page(state: State) -> Response[str]:
    """The admin page; whether the admin API is enabled is rendered into it."""
    return render_admin_page(state, admin_template())


def render_admin_page(state: State, template: str) -> Response[str]:
    """An admin page (this one, the dashboard) told whether the admin API is on."""
    gatekeeper: Gatekeeper = state.gatekeeper
    enabled = "true" if gatekeeper.admin_enabled else "false"
    page = template.replace("{{admin_enabled}}", enabled)
    return Response(page, media_type=MediaType.HTML, headers=PAGE_HEADERS)


@cache
def static_page(name: str) -> str:
    """A page under `server/static/`, read once (at app creation, off the request path)."""
    return (STATIC_DIR / name).read_text(encoding="utf-8")


def admin_template() -> str:
    return static_page("admin.html")


ADMIN_PAGE_ROUTES = [admin_page]
