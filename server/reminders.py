"""Leo's due-date reminders: a few days before each obligation of the owner's regime (DAS,
DASN-SIMEI, FGTS, 13º…), one WhatsApp message, once per obligation and period.

Every worker may run the loop: a reminder is claimed in `obligation_reminders` (its primary key)
before it is sent, so two workers looking at the same moment send it once. Owners without
WhatsApp get none (the web page has no push); the row says so (`no_channel`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, timedelta

from checkpointing.business import BusinessProfile, BusinessProfiles, ReminderLog
from checkpointing.identity import IdentityStore
from finance.calendar import Obligation, local_today, obligations
from graphs.schema import Reminders

log = logging.getLogger("esquadra.reminders")

# wa_id, text, template parameters → outcome ("sent", "sent_template", "window_closed", …)
Sender = Callable[[str, str, list[str]], Awaitable[str]]


def reminder_text(obligation: Obligation, today: date) -> str:
    """The reminder as the owner reads it."""
    days = (obligation.due_date - today).days
    when = "hoje" if days == 0 else "amanhã" if days == 1 else f"em {days} dias"
    return (
        f"⏰ Lembrete do Leo: {obligation.name} vence {when}, em "
        f"{obligation.due_date:%d/%m/%Y} (referente a {_period(obligation.period)}). "
        f"Base legal: {obligation.source.split(';')[0]}. Feriado municipal pode mudar a data: "
        "confirme com seu contador."
    )


def due_soon(profile: BusinessProfile, today: date, days_before: int) -> list[Obligation]:
    """The profile's obligations due from today to `days_before` days ahead."""
    last = today + timedelta(days=days_before)
    months = {f"{today:%Y-%m}", f"{last:%Y-%m}"}
    found = [
        ob
        for month in sorted(months)
        for ob in obligations(profile.regime, month, profile.state, profile.employees)
    ]
    return [ob for ob in found if today <= ob.due_date <= last]


@dataclass
class ReminderScheduler:
    """Looks for reminders due and sends them; `run_once` is one look."""

    config: Reminders
    profiles: BusinessProfiles
    sent: ReminderLog
    identities: IdentityStore
    send: Sender | None  # None: WhatsApp is off

    async def run_once(self, today: date | None = None) -> int:
        """Send what is due today; how many reminders were claimed."""
        today = today or local_today()
        claimed = 0
        for profile in await self.profiles.with_reminders():
            for obligation in due_soon(profile, today, self.config.days_before):
                if not await self.sent.claim(
                    profile.user_id, obligation.code, obligation.period, obligation.due_date
                ):
                    continue  # already sent (by us earlier, or by another worker now)
                claimed += 1
                channel, outcome = await self._deliver(profile.user_id, obligation, today)
                await self.sent.settle(
                    profile.user_id, obligation.code, obligation.period, channel, outcome
                )
        return claimed

    async def _deliver(
        self, user_id: str, obligation: Obligation, today: date
    ) -> tuple[str | None, str]:
        view = await self.identities.user(user_id)
        phones = [
            link.sender_id for link in (view.links if view else []) if link.channel == "whatsapp"
        ]
        if not phones or self.send is None:
            return None, "no_channel"
        parameters = [obligation.name, f"{obligation.due_date:%d/%m/%Y}"]
        try:
            outcome = await self.send(phones[0], reminder_text(obligation, today), parameters)
        except Exception as exc:  # the Graph API refused or is down: recorded, not retried
            log.warning("reminder %s for %s failed: %s", obligation.code, user_id, exc)
            return "whatsapp", f"failed: {exc}"
        return "whatsapp", outcome

    async def run_forever(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception(
                    "reminders: a round failed; next round in %ss", self.config.interval_s
                )
            await asyncio.sleep(self.config.interval_s)


@asynccontextmanager
async def open_reminders(scheduler: ReminderScheduler) -> AsyncIterator[ReminderScheduler]:
    """Run the scheduler's loop for the app's lifetime (when enabled)."""
    task = asyncio.create_task(scheduler.run_forever()) if scheduler.config.enabled else None
    try:
        yield scheduler
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _period(period: str) -> str:
    return f"{period[5:]}/{period[:4]}" if len(period) == 7 else period
