"""The WhatsApp adapter as one object the app opens in its lifespan: `open_whatsapp`.

Off (None, one log line) unless `WHATSAPP_VERIFY_TOKEN` and `WHATSAPP_APP_SECRET` are both
set: without them no call could be authenticated. Nothing here is on `/v1/chat`'s path.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import httpx

from checkpointing.hooks import IdentityService
from checkpointing.sql import Database, utcnow
from core.settings import Settings
from graphs.schema import WhatsAppChannel
from server.channels.whatsapp.graph_api import GraphClient
from server.channels.whatsapp.message_log import MessageLog
from server.channels.whatsapp.payload import Events
from server.channels.whatsapp.processor import WINDOW, WhatsAppProcessor
from server.channels.whatsapp.signature import signature_valid, token_matches
from server.chat import ChatService

log = logging.getLogger("esquadra.whatsapp")

# Graph API calls: a reply is worth waiting for, but not forever (retries come on top).
_HTTP_TIMEOUT = httpx.Timeout(15.0, connect=5.0)


class WhatsAppService:
    """What the webhook routes need: the secrets' checks and `accept`."""

    def __init__(
        self,
        config: WhatsAppChannel,
        verify_token: str,
        app_secret: str,
        message_log: MessageLog,
        processor: WhatsAppProcessor,
    ) -> None:
        self.config = config
        self._verify_token = verify_token
        self._app_secret = app_secret
        self.log = message_log
        self.processor = processor

    async def notify(self, wa_id: str, text: str, template_parameters: Sequence[str]) -> str:
        """A message we start (a reminder): free text inside the 24-hour window, else the
        `reminder_template` with `template_parameters`; the outcome (`sent`,
        `sent_template`, `never_wrote`, `window_closed`)."""
        contact = await self.log.last_contact(wa_id)
        if contact is None:
            return "never_wrote"  # no number of ours this user ever wrote to
        phone_number_id, last = contact
        graph = self.processor.graph
        if utcnow() - last <= WINDOW:
            wamid = await graph.send_text(phone_number_id, wa_id, text)
            await self.log.record_outbound(wamid, phone_number_id, wa_id, "text", text, None)
            return "sent"
        template = self.config.reminder_template
        if template is None:
            return "window_closed"
        wamid = await graph.send_template(
            phone_number_id, wa_id, template.name, template.language, template_parameters
        )
        await self.log.record_outbound(
            wamid, phone_number_id, wa_id, "template", template.name, None
        )
        return "sent_template"

    def verification_ok(self, mode: str | None, token: str | None) -> bool:
        """Meta's subscription check: `hub.mode=subscribe` and our verify token."""
        return (
            mode == "subscribe" and token is not None and token_matches(self._verify_token, token)
        )

    def signed(self, body: bytes, header: str | None) -> bool:
        """Whether Meta signed exactly these bytes with the app secret."""
        return signature_valid(self._app_secret, body, header)

    async def accept(self, events: Events) -> int:
        """Record the webhook's messages and statuses durably, then answer the new messages in
        the background; how many were new (a replayed delivery: 0)."""
        new = await self.log.record(events, utcnow())
        for message in new:
            self.processor.submit(message.wamid)
        return len(new)


@asynccontextmanager
async def open_whatsapp(
    settings: Settings,
    config: WhatsAppChannel,
    db: Database,
    chat: ChatService,
    identity: IdentityService,
) -> AsyncIterator[WhatsAppService | None]:
    """The adapter, started (its recovery sweep runs at once) and closed on exit; None when
    the webhook is off."""
    if settings.whatsapp_verify_token is None or settings.whatsapp_app_secret is None:
        log.info(
            "whatsapp webhook off: set WHATSAPP_VERIFY_TOKEN and WHATSAPP_APP_SECRET to turn it on"
        )
        yield None
        return
    token = settings.whatsapp_access_token
    if token is None:
        log.warning("whatsapp webhook on without WHATSAPP_ACCESS_TOKEN: replies will be refused")
    message_log = MessageLog(db, max_attempts=config.max_attempts)
    async with httpx.AsyncClient(timeout=_HTTP_TIMEOUT) as http:
        graph = GraphClient(
            http,
            base_url=settings.graph_api_base_url,
            api_version=config.api_version,
            access_token=token.get_secret_value() if token is not None else "",
            rate_per_s=config.rate_per_s,
            attempts=config.send_attempts,
        )
        processor = WhatsAppProcessor(
            message_log,
            graph,
            chat,
            identity,
            config,
            max_message_chars=settings.max_message_chars,
        )
        processor.start()
        log.info("whatsapp webhook on: /webhooks/whatsapp (graph api %s)", config.api_version)
        try:
            yield WhatsAppService(
                config,
                settings.whatsapp_verify_token.get_secret_value(),
                settings.whatsapp_app_secret.get_secret_value(),
                message_log,
                processor,
            )
        finally:
            await processor.aclose(config.shutdown_grace_s)
