"""Who may call what: one guard for every `/v1` route, and the `Caller` it leaves on the request.

Three kinds of caller (docs/architecture.md, *Who may call what*):

- `web`: the chat page's browser. `GET /` gives it a signed, HttpOnly session cookie naming a
  random sender id on channel `web`; the identity service resolves it to its user like any
  channel. It may chat (as itself only), read its own threads and memory and ask for its own
  link codes. Its state-changing calls must carry `X-CSRF-Token` (an HMAC of its sender id,
  rendered into the page).
- `integration`: a server that sent `Authorization: Bearer <ESQUADRA_API_KEY>` (any user id).
- `open`: no key is configured (the embedded default, loopback only unless `--allow-open`):
  every caller without the page's session has an integration's rights.
- `admin`: a caller of `/admin/api/…` that sent `Authorization: Bearer <ADMIN_TOKEN>`. That
  token is the only way in (the API key and the page's session are not); with no token set the
  admin API does not exist (404 `admin_disabled`), it is never open.

Whatever the caller, a sender id on an external channel (`whatsapp`) is proven only by that
channel's adapter (the webhook's signature), so no request body may claim one.

The guard costs an integration one constant-time compare, no store call; only a page's session
asks the identity service who its sender is (the hot session first).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.handlers.base import BaseRouteHandler

from core.ids import check_id
from server.errors import ApiError

SESSION_COOKIE = "esquadra_session"
CSRF_HEADER = "x-csrf-token"
SECRET_FILE = "session_secret"
# A year: the cookie is the web user's identity, kept until the browser forgets it.
SESSION_MAX_AGE_S = 365 * 24 * 3600

# Channels whose sender ids only that channel's adapter can prove (a signed webhook).
EXTERNAL_CHANNELS = frozenset({"whatsapp"})
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# `opt={"access": ...}` on a route handler: what a page's session may do there.
#   public       no caller needed at all (`GET /v1/agents`)
#   own_user     the path's `user_id` must be the session's own user
#   integration  not for the page's session (admin calls, classify)
#   (unset)      the handler checks what the session may touch (chat, threads, link)
Access = Literal["public", "own_user", "integration"]


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent this request. `user_id`/`sender_id` only for `web` (the session's user)."""

    kind: Literal["web", "integration", "open", "admin"]
    user_id: str | None = None
    sender_id: str | None = None

    @property
    def is_web(self) -> bool:
        return self.kind == "web"


OPEN = Caller("open")
INTEGRATION = Caller("integration")
ADMIN = Caller("admin")
ADMIN_PREFIX = "/admin/api"


class SessionSigner:
    """Signs the page's session cookie and derives its CSRF token (stdlib HMAC-SHA256)."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, purpose: bytes, value: str) -> str:
        digest = hmac.new(self._secret, purpose + b"\0" + value.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def cookie(self, sender_id: str) -> str:
        """The cookie value naming `sender_id`: `<sender id>.<signature>`."""
        return f"{sender_id}.{self._mac(b'session', sender_id)}"

    def sender(self, cookie: str | None) -> str | None:
        """The sender id a cookie value names, or None when it is missing or forged."""
        if not cookie or "." not in cookie:
            return None
        sender_id, _, signature = cookie.rpartition(".")
        if hmac.compare_digest(signature, self._mac(b"session", sender_id)):
            return sender_id
        return None

    def csrf_token(self, sender_id: str) -> str:
        """The token the page sends back in `X-CSRF-Token` (another HMAC of the sender id)."""
        return self._mac(b"csrf", sender_id)

    def csrf_ok(self, sender_id: str, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token, self.csrf_token(sender_id))


def new_web_sender() -> str:
    """A fresh, unguessable sender id for a browser on channel `web`."""
    return f"web-{secrets.token_hex(12)}"


def load_session_secret(configured: str | None, data_dir: Path) -> bytes:
    """`ESQUADRA_SESSION_SECRET`, or the one kept in `<data_dir>/session_secret` (created once,
    0600). Created through a hard link of a complete temporary file, so workers starting
    together on one machine all read the same secret, never a half-written one."""
    if configured:
        return configured.encode()
    path = data_dir / SECRET_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        temporary = data_dir / f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48))
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another worker won: use its secret
        finally:
            temporary.unlink()
    return path.read_text().strip().encode()


class Gatekeeper:
    """The authentication and authorization rules, built once per app from the settings."""

    def __init__(self, api_key: str | None, admin_token: str | None = None) -> None:
        self._api_key = api_key.encode() if api_key else None
        self._admin_token = admin_token.encode() if admin_token else None
        self.signer: SessionSigner | None = None  # set in the lifespan (the secret's file)

    @property
    def open(self) -> bool:
        return self._api_key is None

    @property
    def admin_enabled(self) -> bool:
        return self._admin_token is not None

    def admin(self, connection: ASGIConnection[Any, Any, Any, Any]) -> Caller:
        """The admin API's caller: `Authorization: Bearer <ADMIN_TOKEN>`, compared in constant
        time; no token configured means no admin API at all (not an open one)."""
        if self._admin_token is None:
            raise ApiError(
                404,
                "admin_disabled",
                "Administração desativada: defina ADMIN_TOKEN no servidor para usar /admin/api.",
            )
        scheme, _, token = (connection.headers.get("authorization") or "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), self._admin_token
        ):
            return ADMIN
        error = ApiError(
            401,
            "unauthorized",
            "Token de administração ausente ou inválido: envie "
            "'Authorization: Bearer <ADMIN_TOKEN>'.",
        )
        error.headers = {"WWW-Authenticate": "Bearer"}
        raise error

    async def caller(self, connection: ASGIConnection[Any, Any, Any, Any]) -> Caller:
        """Authenticate: a bearer key, else the page's session, else open (no key configured)."""
        authorization = connection.headers.get("authorization")
        if authorization is not None and self._api_key is not None:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(
                token.strip().encode(), self._api_key
            ):
                return INTEGRATION
            raise _unauthorized()
        signer = self.signer
        sender_id = signer.sender(connection.cookies.get(SESSION_COOKIE)) if signer else None
        if signer is not None and sender_id is not None:
            if connection.scope["method"] not in _SAFE_METHODS and not signer.csrf_ok(
                sender_id, connection.headers.get(CSRF_HEADER)
            ):
                raise ApiError(
                    403,
                    "csrf_failed",
                    "Sessão sem o token de segurança desta página. Recarregue a página e "
                    "tente de novo.",
                )
            user_id = await connection.app.state.identity.resolve("web", sender_id)
            return Caller("web", user_id=user_id, sender_id=sender_id)
        if self._api_key is not None:
            raise _unauthorized()
        return OPEN


async def guard(
    connection: ASGIConnection[Any, Any, Any, Any], route_handler: BaseRouteHandler
) -> None:
    """The app's one guard: everything under `/admin/api` needs the admin token; every `/v1`
    route but the public ones needs a caller, and the page's session is confined to its own
    user. Other paths (the page, webhooks, health, schema) pass."""
    if connection.scope["path"].startswith(ADMIN_PREFIX):
        connection.state.caller = connection.app.state.gatekeeper.admin(connection)
        return
    access: Access | None = route_handler.opt.get("access")
    if access == "public" or not connection.scope["path"].startswith("/v1/"):
        return
    if connection.scope.get("method") == "OPTIONS":  # CORS preflights carry no credentials
        return
    gatekeeper: Gatekeeper = connection.app.state.gatekeeper
    caller = await gatekeeper.caller(connection)
    connection.state.caller = caller
    if not caller.is_web:
        return
    if access == "integration":
        raise forbidden()
    if access == "own_user":
        await require_own_user(connection.app.state, caller, connection.path_params["user_id"])


def caller_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Caller:
    """The caller the guard left on this request."""
    return connection.state.get("caller", OPEN)


async def require_own_user(state: State, caller: Caller, user_id: str) -> None:
    """A page's session may name only its own user (or an old id merged into it)."""
    if not caller.is_web or check_id(user_id, "user_id") == caller.user_id:
        return
    if await state.identity.store.canonical(user_id) != caller.user_id:
        raise forbidden()


async def require_own_thread(state: State, caller: Caller, thread_id: str) -> None:
    """A page's session may read or continue only a thread its user wrote; any other thread
    is 'not found' (the same answer as a thread that does not exist)."""
    if not caller.is_web:
        return
    owner = await state.chat.thread_owner(thread_id)
    if owner is None or (
        owner != caller.user_id and await state.identity.store.canonical(owner) != caller.user_id
    ):
        raise ApiError(404, "thread_not_found", f"Conversa '{thread_id}' não encontrada.")


def claimed_sender(caller: Caller, channel: str, sender_id: str | None) -> tuple[str, str | None]:
    """The (channel, sender id) a request may act as. The page's session is always itself on
    `web`; nobody may claim an external channel's sender (only its adapter proves one)."""
    if caller.is_web:
        if channel not in ("api", "web"):
            raise channel_not_allowed(channel)
        if sender_id is not None and sender_id not in (caller.sender_id, caller.user_id):
            raise ApiError(
                403,
                "identity_mismatch",
                "Esta sessão só pode falar em nome do próprio usuário.",
            )
        return "web", caller.sender_id
    if channel in EXTERNAL_CHANNELS:
        raise channel_not_allowed(channel)
    return channel, sender_id


def channel_not_allowed(channel: str) -> ApiError:
    return ApiError(
        403,
        "channel_not_allowed",
        f"O canal '{channel}' não pode ser informado na requisição: só o próprio canal "
        "comprova quem enviou a mensagem.",
    )


def forbidden() -> ApiError:
    return ApiError(403, "forbidden", "Esta sessão só pode acessar os dados do próprio usuário.")


def _unauthorized() -> ApiError:
    error = ApiError(
        401,
        "unauthorized",
        "Chave de API ausente ou inválida: envie 'Authorization: Bearer <ESQUADRA_API_KEY>'.",
    )
    error.headers = {"WWW-Authenticate": "Bearer"}
    return error
