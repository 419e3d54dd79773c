"""`/webhooks/whatsapp`: Meta's verification (GET) and its deliveries (POST).

Authenticated by Meta's own means (the verify token; the body's HMAC signature), not by the
`/v1` API's credentials.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import MediaType, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import QueryParameter

from server.channels.whatsapp.payload import PayloadError, parse_webhook
from server.channels.whatsapp.service import WhatsAppService
from server.errors import ApiError
from server.schemas import ErrorBody, response_spec

PATH = "/webhooks/whatsapp"
_OFF = response_spec(
    ErrorBody,
    description="`whatsapp_disabled`: WHATSAPP_VERIFY_TOKEN or WHATSAPP_APP_SECRET unset.",
)


@get(
    PATH,
    summary="WhatsApp: Meta's webhook verification",
    description="Echoes `hub.challenge` (text/plain) when `hub.mode` is `subscribe` and "
    "`hub.verify_token` is WHATSAPP_VERIFY_TOKEN.",
    media_type=MediaType.TEXT,
    responses={
        403: response_spec(ErrorBody, description="`verification_failed`: wrong token or mode."),
        404: _OFF,
    },
)
async def verify_webhook(
    state: State,
    mode: Annotated[str | None, QueryParameter(name="hub.mode", required=False)] = None,
    token: Annotated[str | None, QueryParameter(name="hub.verify_token", required=False)] = None,
    challenge: Annotated[str | None, QueryParameter(name="hub.challenge", required=False)] = None,
) -> Response[str]:
    """Echo `hub.challenge` when `hub.verify_token` is ours (Meta's subscription check)."""
    service = _service(state)
    if not challenge or not service.verification_ok(mode, token):
        raise ApiError(403, "verification_failed", "Token de verificação do webhook inválido.")
    return Response(challenge, media_type=MediaType.TEXT)


class Ack(msgspec.Struct):
    status: str


@post(
    PATH,
    summary="WhatsApp: Meta's deliveries (messages and statuses)",
    description="Signed by Meta (`X-Hub-Signature-256`: HMAC-SHA256 of the raw body with "
    "WHATSAPP_APP_SECRET). Messages are recorded and answered in the background; the 200 does "
    "not wait for the replies.",
    status_code=200,
    responses={
        400: response_spec(ErrorBody, description="`invalid_payload`: not a Meta webhook."),
        401: response_spec(ErrorBody, description="`invalid_signature`: missing or wrong."),
        404: _OFF,
        413: response_spec(ErrorBody, description="`payload_too_large`: over max_body_bytes."),
    },
)
async def receive_webhook(request: Request[Any, Any, Any], state: State) -> Ack:
    """Check size and signature, record the messages, answer later: the 200 comes fast."""
    service = _service(state)
    body = await _body(request, service.config.max_body_bytes)
    if not service.signed(body, request.headers.get("x-hub-signature-256")):
        raise ApiError(401, "invalid_signature", "Assinatura do webhook ausente ou inválida.")
    try:
        events = parse_webhook(body)
    except PayloadError as exc:
        raise ApiError(400, "invalid_payload", f"Corpo do webhook inválido: {exc}") from None
    await service.accept(events)
    return Ack(status="ok")


WHATSAPP_ROUTES = [verify_webhook, receive_webhook]


def _service(state: State) -> WhatsAppService:
    service: WhatsAppService | None = state.get("whatsapp")
    if service is None:
        raise ApiError(
            404,
            "whatsapp_disabled",
            "O webhook do WhatsApp está desligado (WHATSAPP_VERIFY_TOKEN e "
            "WHATSAPP_APP_SECRET não configurados).",
        )
    return service


async def _body(request: Request[Any, Any, Any], limit: int) -> bytes:
    """The raw body, refused with 413 as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"Corpo do webhook maior que {limit} bytes.")
