"""Webhook bodies shaped as Meta sends them (WhatsApp Cloud API, `whatsapp_business_account`),
signed with the test app secret, and the settings that turn the webhook on."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from conftest import SQUAD_YAML

from server.channels.whatsapp.signature import sign

APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "test-verify-token"
ACCESS_TOKEN = "test-access-token"
WABA_ID = "102290129340398"  # the WhatsApp Business Account: entry[].id
PHONE_NUMBER_ID = "106540352242922"
DISPLAY_NUMBER = "15550783881"


def whatsapp_settings(graph_url: str, config: Path = SQUAD_YAML, **overrides: Any) -> Any:
    """In-memory stores (unless overridden) and the webhook on, replies to the fake Graph API."""
    from core.settings import Settings

    values: dict[str, Any] = {
        "config_path": config,
        "database_url": "memory",
        "whatsapp_verify_token": VERIFY_TOKEN,
        "whatsapp_app_secret": APP_SECRET,
        "whatsapp_access_token": ACCESS_TOKEN,
        "graph_api_base_url": graph_url,
        **overrides,
    }
    return Settings(**values)


def new_wamid() -> str:
    return f"wamid.HBgN{uuid.uuid4().hex.upper()}FQIAEhgU"


def new_wa_id() -> str:
    return f"55119{uuid.uuid4().int % 10**8:08d}"


def _message(wa_id: str, kind: str, content: dict[str, Any], sent_at: float | None) -> dict:
    return {
        "from": wa_id,
        "id": new_wamid(),
        "timestamp": str(int(sent_at if sent_at is not None else time.time())),
        "type": kind,
        **content,
    }


def text(wa_id: str, body: str, sent_at: float | None = None) -> dict[str, Any]:
    return _message(wa_id, "text", {"text": {"body": body}}, sent_at)


def button_reply(wa_id: str, reply_id: str, title: str) -> dict[str, Any]:
    content = {
        "context": {"from": DISPLAY_NUMBER, "id": new_wamid()},
        "interactive": {"type": "button_reply", "button_reply": {"id": reply_id, "title": title}},
    }
    return _message(wa_id, "interactive", content, None)


def list_reply(wa_id: str, reply_id: str, title: str, description: str) -> dict[str, Any]:
    row = {"id": reply_id, "title": title, "description": description}
    content = {
        "context": {"from": DISPLAY_NUMBER, "id": new_wamid()},
        "interactive": {"type": "list_reply", "list_reply": row},
    }
    return _message(wa_id, "interactive", content, None)


def media(wa_id: str, kind: str) -> dict[str, Any]:
    """An image, audio, sticker, video or document message (or location, contacts)."""
    bodies: dict[str, Any] = {
        "image": {"caption": "olha", "mime_type": "image/jpeg", "sha256": "abc=", "id": "1"},
        "audio": {"mime_type": "audio/ogg; codecs=opus", "id": "2", "voice": True},
        "sticker": {"mime_type": "image/webp", "sha256": "abc=", "id": "3", "animated": False},
        "video": {"mime_type": "video/mp4", "sha256": "abc=", "id": "4"},
        "document": {"filename": "nota.pdf", "mime_type": "application/pdf", "id": "5"},
        "location": {"latitude": -23.55, "longitude": -46.63, "name": "Padaria"},
        "contacts": [{"name": {"formatted_name": "Ana"}, "phones": [{"phone": "+55 11 9999"}]}],
    }
    return _message(wa_id, kind, {kind: bodies[kind]}, None)


def status(wamid: str, state: str, recipient: str, at: float | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": wamid,
        "status": state,
        "timestamp": str(int(at if at is not None else time.time())),
        "recipient_id": recipient,
    }
    if state != "failed":
        item["conversation"] = {"id": uuid.uuid4().hex, "origin": {"type": "service"}}
        item["pricing"] = {"billable": False, "pricing_model": "PMP", "category": "service"}
    else:
        item["errors"] = [
            {
                "code": 131047,
                "title": "Re-engagement message",
                "message": "Re-engagement message",
                "error_data": {"details": "Message failed to send because more than 24 hours"},
            }
        ]
    return item


def change(
    messages: list[dict[str, Any]] = (),  # type: ignore[assignment]
    statuses: list[dict[str, Any]] = (),  # type: ignore[assignment]
    phone_number_id: str = PHONE_NUMBER_ID,
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": DISPLAY_NUMBER, "phone_number_id": phone_number_id},
    }
    if messages:
        senders = dict.fromkeys(m["from"] for m in messages)
        value["contacts"] = [{"profile": {"name": "Dona Ana"}, "wa_id": w} for w in senders]
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    return {"value": value, "field": "messages"}


def webhook(*entries: list[dict[str, Any]]) -> dict[str, Any]:
    """A body with one entry per list of changes."""
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": changes} for changes in entries],
    }


def signed(body: dict[str, Any] | bytes, secret: str = APP_SECRET) -> dict[str, Any]:
    """Keyword arguments for `client.post`: the exact bytes and Meta's signature of them."""
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    return {
        "content": raw,
        "headers": {"Content-Type": "application/json", "X-Hub-Signature-256": sign(secret, raw)},
    }
