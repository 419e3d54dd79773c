"""The background half of the webhook: each accepted message answered once, off the request.

The webhook only records messages (message_log.py) and calls `submit`; here each message is
claimed in the log, then answered in a task of its own, so a burst reaches the thread's gate
together and [S4]'s debounce can merge it. A sweep at start and every `sweep_s` submits what
is claimable (accepted before a restart, or claimed by a worker that died and whose lease ran
out). On shutdown, messages still running after a short grace are given back to the log
(`release`), to be answered by the next start.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import aclosing, suppress
from datetime import timedelta

from checkpointing.hooks import IdentityService, InvalidLinkCode
from checkpointing.identity import UnknownUser
from checkpointing.link_codes import TooManyAttempts
from checkpointing.sql import utcnow
from graphs.schema import WhatsAppChannel
from server.channels.whatsapp import replies
from server.channels.whatsapp.graph_api import GraphApiError, GraphClient
from server.channels.whatsapp.message_log import Claimed, MessageLog
from server.channels.whatsapp.payload import IGNORED_KINDS, TEXT_KINDS
from server.channels.whatsapp.split import split_text
from server.chat import ChatService, ChatTurn
from server.errors import ApiError

log = logging.getLogger("esquadra.whatsapp")

CHANNEL = "whatsapp"
WINDOW = timedelta(hours=24)


class WhatsAppProcessor:
    """Owns the tasks that answer messages; `aclose` before the chat service closes."""

    def __init__(
        self,
        message_log: MessageLog,
        graph: GraphClient,
        chat: ChatService,
        identity: IdentityService,
        config: WhatsAppChannel,
        *,
        max_message_chars: int,
    ) -> None:
        self.log = message_log
        self.graph = graph
        self.chat = chat
        self.identity = identity
        self.config = config
        self.max_message_chars = max_message_chars
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._claimed: set[str] = set()  # what this worker must give back if stopped
        # Turns start CPU-heavy (routing); a burst of hundreds at once would starve the event
        # loop the webhook acknowledges on. The others wait, durably, in the log.
        self._slots = asyncio.Semaphore(config.max_concurrent)
        self._sweeper: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        """Begin sweeping: at once (what a restart left unanswered), then every `sweep_s`."""
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="whatsapp-sweep")

    def submit(self, wamid: str) -> None:
        """Answer this message in the background (a no-op if this worker already is)."""
        if self._closing or wamid in self._tasks:
            return
        task = asyncio.create_task(self._process(wamid), name=f"whatsapp:{wamid}")
        self._tasks[wamid] = task
        task.add_done_callback(lambda _: self._tasks.pop(wamid, None))

    async def sweep(self) -> int:
        """Submit every claimable message; how many were submitted."""
        found = [w for w in await self.log.claimable() if w not in self._tasks]
        for wamid in found:
            self.submit(wamid)
        return len(found)

    async def idle(self) -> None:
        """Wait until no message is being answered (tests and shutdown)."""
        while self._tasks:
            await asyncio.wait(list(self._tasks.values()))

    async def aclose(self, grace_s: float = 5.0) -> None:
        """Stop sweeping; let running messages finish for `grace_s`, give back the rest."""
        self._closing = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            with suppress(asyncio.CancelledError):
                await self._sweeper
        running = dict(self._tasks)
        if not running:
            return
        _, pending = await asyncio.wait(running.values(), timeout=grace_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
        for wamid in [w for w, task in running.items() if task in pending and w in self._claimed]:
            await self.log.release(wamid)
            log.info("whatsapp message %s given back unanswered (shutdown)", wamid)

    async def _sweep_forever(self) -> None:
        while True:
            try:
                found = await self.sweep()
                if found:
                    log.info("whatsapp: %d message(s) waiting for an answer resumed", found)
            except Exception:
                log.exception("whatsapp sweep failed; trying again in %ss", self.config.sweep_s)
            await asyncio.sleep(self.config.sweep_s)

    async def _process(self, wamid: str) -> None:
        async with self._slots:
            message = await self.log.claim(wamid, self.config.lease_s)
            if message is None:
                return  # another worker has it, or it was answered already
            self._claimed.add(wamid)
            try:
                state, error = await self._answer(message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("whatsapp message %s failed (attempt %d)", wamid, message.attempts)
                await self.log.fail(wamid, f"{type(exc).__name__}: {exc}")
                self._claimed.discard(wamid)
                return
            await self.log.finish(wamid, state, error)
            self._claimed.discard(wamid)

    async def _answer(self, message: Claimed) -> tuple[str, str | None]:
        """Answer one message; the state it ends in (and why, when it could not be sent)."""
        if message.kind in IGNORED_KINDS:
            return "ignored", None
        await self._mark_read(message)
        text = (message.text or "").strip()
        if message.kind not in TEXT_KINDS or not text:
            reply: str | None = replies.UNSUPPORTED
        elif (code := replies.link_code_in(text)) is not None:
            reply = await self._link(message, code)
        else:
            reply = await self._turn(message, text)
        if reply is None:
            return "merged", None  # the burst's first message carries the answer
        try:
            await self._send(message, reply)
        except WindowClosed as exc:
            log.warning("whatsapp reply to %s not sent: %s", message.wamid, exc)
            return "failed", f"window_closed: {exc}"
        except GraphApiError as exc:  # retried already; running the turn again would not help
            log.error("whatsapp reply to %s not sent: %s", message.wamid, exc)
            return "failed", str(exc)[:2000]
        return "answered", None

    async def _turn(self, message: Claimed, text: str) -> str | None:
        """The squad's reply, as `/v1/chat` runs a turn; None when the debounce merged it."""
        turn = await self.chat.prepare(
            ChatTurn(
                message=text[: self.max_message_chars],
                user_id=message.wa_id,
                channel=CHANNEL,
                arrived_at=message.received_at.timestamp(),
            )
        )
        parts: list[str] = []
        try:
            async with aclosing(self.chat.stream(turn)) as events:  # type: ignore[type-var]
                async for kind, data in events:
                    if kind == "token":
                        parts.append(data["text"])
                    elif kind == "merged":
                        return None
                    elif kind == "error":
                        log.warning("whatsapp turn on %s ended with %s", turn.thread_id, data)
                        return replies.APOLOGY
                    elif kind == "done":
                        return "".join(parts).strip() or replies.APOLOGY
        except ApiError as exc:  # the gate refused the turn (`reject` policy): say why
            return str(exc.detail)
        return replies.APOLOGY

    async def _link(self, message: Claimed, code: str) -> str:
        """Redeem a link code typed here: this number joins the web user who asked for it."""
        try:
            result = await self.identity.redeem_code(code, CHANNEL, message.wa_id)
        except (InvalidLinkCode, UnknownUser):
            return replies.BAD_CODE
        except TooManyAttempts:
            return replies.TOO_MANY_CODES
        log.info("whatsapp %s linked to user %s", message.wa_id, result.user_id)
        return replies.LINKED

    async def _send(self, message: Claimed, reply: str) -> None:
        """Free text inside the 24-hour window (split to fit), the template outside it."""
        last = await self.log.last_inbound_at(message.phone_number_id, message.wa_id)
        if last is None or utcnow() - last > WINDOW:
            template = self.config.reply_template
            if template is None:
                raise WindowClosed(f"last message at {last}, no reply_template configured")
            wamid = await self.graph.send_template(
                message.phone_number_id, message.wa_id, template.name, template.language
            )
            await self.log.record_outbound(
                wamid,
                message.phone_number_id,
                message.wa_id,
                "template",
                template.name,
                message.wamid,
            )
            return
        for piece in split_text(reply):
            wamid = await self.graph.send_text(message.phone_number_id, message.wa_id, piece)
            await self.log.record_outbound(
                wamid, message.phone_number_id, message.wa_id, "text", piece, message.wamid
            )

    async def _mark_read(self, message: Claimed) -> None:
        try:
            await self.graph.mark_read(message.phone_number_id, message.wamid)
        except GraphApiError as exc:  # cosmetic: the answer matters more than the ticks
            log.warning("whatsapp: marking %s read failed: %s", message.wamid, exc)


class WindowClosed(Exception):
    """The user's last message is over 24 hours old and no template is configured."""
