"""`/webhooks/whatsapp`: Meta's verification (GET) and its deliveries (POST).

Authenticated by Meta's own means (the verify token; the body's HMAC signature), not by the
`/v1` API's credentials. Kept out of the OpenAPI schema: the contract is Meta's.
"""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Request, Response, get, post
from litestar.datastructures import State

from server.channels.whatsapp.payload import PayloadError, parse_webhook
from server.channels.whatsapp.service import WhatsAppService
from server.errors import ApiError

PATH = "/webhooks/whatsapp"


@get(PATH, include_in_schema=False, media_type=MediaType.TEXT)
async def verify_webhook(request: Request[Any, Any, Any], state: State) -> Response[str]:
    """Echo `hub.challenge` when `hub.verify_token` is ours (Meta's subscription check)."""
    service = _service(state)
    query = request.query_params
    challenge = query.get("hub.challenge")
    if not challenge or not service.verification_ok(
        query.get("hub.mode"), query.get("hub.verify_token")
    ):
        raise ApiError(403, "verification_failed", "Token de verificação do webhook inválido.")
    return Response(challenge, media_type=MediaType.TEXT)


@post(PATH, include_in_schema=False, status_code=200)
async def receive_webhook(request: Request[Any, Any, Any], state: State) -> dict[str, str]:
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
    return {"status": "ok"}


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
