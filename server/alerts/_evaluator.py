"""The alert evaluator: every `interval_s`, one worker (the lease holder) reads each rule's
value, opens, updates or resolves its alert, and notifies the webhook once per alert.

De-duplication: a rule has at most one open alert, and only the worker whose INSERT opened it
notifies (checkpointing/alerts.py). Cooldown: a rule that sent a notice less than
`cooldown_s` ago opens its alert quietly (`notice = cooldown`). A notice the webhook refused is
tried again on the next rounds while the alert stays open, up to `MAX_ATTEMPTS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

from checkpointing.alerts import AlertRow, AlertStore
from checkpointing.leases import Lease, LocalLease, RedisLease
from checkpointing.sql import Database, utcnow
from checkpointing.stores import Stores
from graphs.schema import AlertRule, Alerts
from server.admin_routes import start_of_day
from server.alerts._measure import TraceLosses, describe, measure
from server.alerts._notify import NoticeFailed, WebhookNotifier

log = logging.getLogger("esquadra.alerts")

MAX_ATTEMPTS = 3
LEASE_KEY = "alerts:evaluator"


class AlertEvaluator:
    """The rules of `agents.yaml`'s `alerts:` section, evaluated in the background."""

    def __init__(
        self,
        config: Alerts,
        db: Database,
        lease: Lease,
        notifier: WebhookNotifier | None,
        fallback_agent: str,
    ) -> None:
        self.config = config
        self.store = AlertStore(db)
        self.db = db
        self.lease = lease
        self.notifier = notifier
        self.fallback_agent = fallback_agent
        self.traces = TraceLosses()
        self.rounds = 0  # rounds this worker evaluated (it held the lease)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.config.enabled and self.config.rules:
            self._task = asyncio.create_task(self._run(), name="alert-evaluator")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.lease.release()
        if self.notifier is not None:
            await self.notifier.aclose()

    async def _run(self) -> None:
        while True:
            self.traces.sample()
            try:
                if await self.lease.hold():
                    await self.evaluate(utcnow())
            except asyncio.CancelledError:
                raise
            except Exception:  # a database hiccup costs one round, never the loop
                log.exception("alert evaluation failed; trying again next round")
            await asyncio.sleep(self.config.interval_s)

    async def evaluate(self, now: datetime) -> None:
        """One round over every rule."""
        self.rounds += 1
        open_alerts = await self.store.active()
        day_start = start_of_day(now)
        for rule in self.config.rules:
            reading = await measure(rule, self.db, now, day_start, self.traces)
            alert = open_alerts.pop(rule.id, None)
            firing = reading.value is not None and reading.value > rule.threshold
            if firing and alert is None:
                assert reading.value is not None
                message = describe(rule, reading.value, self.fallback_agent)
                opened = await self.store.open(
                    rule.id, rule.kind, now, reading.value, rule.threshold, message
                )
                if opened is not None:
                    log.warning("alert %s fired: %s", rule.id, message)
                    await self._notify(rule, opened, now)
            elif firing and alert is not None:
                assert reading.value is not None
                await self.store.update(alert.id, reading.value)
                if alert.notice == "failed" and alert.notice_attempts < MAX_ATTEMPTS:
                    await self._notify(rule, alert, now)
            elif alert is not None:
                await self.store.resolve(alert.id, now, reading.value)
                log.warning("alert %s resolved", rule.id)
        for alert in open_alerts.values():  # its rule was removed from the YAML
            await self.store.resolve(alert.id, now, None)

    async def _notify(self, rule: AlertRule, alert: AlertRow, now: datetime) -> None:
        if self.notifier is None:
            await self.store.set_notice(alert.id, "off")
            return
        last = await self.store.last_notified(rule.id)
        if last is not None and now - last < timedelta(seconds=self.config.cooldown_s):
            await self.store.set_notice(alert.id, "cooldown")
            return
        try:
            await self.notifier.send(_notice_text(rule, alert))
        except NoticeFailed as exc:
            log.warning("alert %s: webhook refused the notice (%s)", rule.id, exc)
            await self.store.set_notice(alert.id, "failed")
            return
        await self.store.set_notice(alert.id, "sent", now)


def _notice_text(rule: AlertRule, alert: AlertRow) -> str:
    return f":rotating_light: *Alerta FalaChefe* ({rule.id}): {alert.message}"


def open_evaluator(
    config: Alerts,
    stores: Stores,
    environ: Mapping[str, str],
    redis_prefix: str,
    fallback_agent: str,
) -> AlertEvaluator:
    """The evaluator for these stores: a Redis lease when there is Redis (workers share it),
    else this process alone; a webhook when the YAML's variable names a URL."""
    lease: Lease = LocalLease()
    if stores.redis is not None:
        ttl = max(3 * config.interval_s, 5.0)  # a dead holder is replaced after this
        lease = RedisLease(stores.redis, redis_prefix + LEASE_KEY, ttl)
    url = environ.get(config.webhook_url_env, "").strip()
    notifier = WebhookNotifier(url, config.webhook_timeout_s) if url else None
    return AlertEvaluator(config, stores.db, lease, notifier, fallback_agent)
