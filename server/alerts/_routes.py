"""`GET /admin/api/alerts`: the open alerts, the past ones and the rules (admin token)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import get
from litestar.datastructures import State
from litestar.params import Parameter

from checkpointing.alerts import AlertRow
from checkpointing.sql import iso
from server.alerts._evaluator import AlertEvaluator
from server.schemas import ErrorBody, response_spec

_AUTH = {
    400: response_spec(ErrorBody, description="Invalid query parameter: `{code, message}`."),
    401: response_spec(ErrorBody, description="`unauthorized`: missing or wrong admin token."),
    404: response_spec(ErrorBody, description="`admin_disabled`: no ADMIN_TOKEN set."),
}


class AlertView(msgspec.Struct):
    id: int
    rule_id: str
    kind: str
    fired_at: str
    resolved_at: str | None
    value: str  # in the rule's unit (s, fraction, R$, runs), as a decimal string
    last_value: str
    threshold: str
    message: str  # pt-BR, as notified
    notice: str  # pending | sent | failed | cooldown | off
    notified_at: str | None


class RuleView(msgspec.Struct):
    id: str
    kind: str
    threshold: str
    window_s: float
    min_turns: int
    agent: str | None


class AlertsReply(msgspec.Struct):
    enabled: bool
    interval_s: float
    cooldown_s: float
    webhook: bool  # a webhook URL is configured
    rules: list[RuleView]
    active: list[AlertView]
    past: list[AlertView]


@get("/admin/api/alerts", summary="Admin: open and past alerts, and the rules", responses=_AUTH)
async def list_alerts(
    state: State, limit: Annotated[int, Parameter(ge=1, le=1000)] = 100
) -> AlertsReply:
    evaluator: AlertEvaluator = state.alerts
    config = evaluator.config
    active = await evaluator.store.active()
    past = [row for row in await evaluator.store.recent(limit) if not row.active]
    return AlertsReply(
        enabled=config.enabled,
        interval_s=config.interval_s,
        cooldown_s=config.cooldown_s,
        webhook=evaluator.notifier is not None,
        rules=[
            RuleView(r.id, r.kind, str(r.threshold), r.window_s, r.min_turns, r.agent)
            for r in config.rules
        ],
        active=[_view(row) for row in active.values()],
        past=[_view(row) for row in past],
    )


def _view(row: AlertRow) -> AlertView:
    return AlertView(
        id=row.id,
        rule_id=row.rule_id,
        kind=row.kind,
        fired_at=iso(row.fired_at) or "",
        resolved_at=iso(row.resolved_at),
        value=str(row.value),
        last_value=str(row.last_value),
        threshold=str(row.threshold),
        message=row.message,
        notice=row.notice,
        notified_at=iso(row.notified_at),
    )


ALERT_ROUTES = [list_alerts]
