"""Alerts evaluated in the server: a latency regression (the stub LLM made slow) notifies a
local webhook receiver once, then the rule stays quiet for its cooldown; one evaluator across
workers (a Redis lease), and one notice even when two evaluators overlap (the alerts table)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from conftest import ADMIN_HEADERS, chat, copy_squad, memory_settings, store_settings
from litestar.testing import AsyncTestClient

from checkpointing import open_stores
from checkpointing.cost_ledger import CostRow
from checkpointing.leases import LocalLease, RedisLease
from checkpointing.redis_guard import GuardedRedis
from checkpointing.sql import utcnow
from checkpointing.stores import connect_redis
from checkpointing.turn_log import TurnLog, TurnRow
from core.settings import Settings
from fakes.webhook_sink import WebhookSink, run_webhook_sink
from graphs.schema import AlertRule, Alerts
from server.alerts import AlertEvaluator
from server.alerts._notify import WebhookNotifier
from server.app import create_app

WINDOW_S = 3
INTERVAL_S = 0.2
COOLDOWN_S = 600
THRESHOLD_S = "0.4"  # the stub answers in ~0.01 s, or in 0.8 s once made slow
SLOW_MS = 800
QUESTION = "me ajuda com um post pro dia dos pais"
WEBHOOK_ENV = "ESQUADRA_ALERT_WEBHOOK_URL"


@pytest.fixture(scope="module")
def sink() -> Iterator[WebhookSink]:
    with run_webhook_sink() as running:
        yield running


def fast_alerts_squad(tmp_path: Path) -> Path:
    """The real squad with the alert loop in seconds: checks every 0.2 s, a 3 s latency
    window judged from the first turn, a 10-minute cooldown."""
    return copy_squad(
        tmp_path,
        {
            "interval_s: 30 ": f"interval_s: {INTERVAL_S} ",
            "cooldown_s: 1800 ": f"cooldown_s: {COOLDOWN_S} ",
            '{id: latency_p95, kind: latency_p95, threshold: "3", window_s: 300, min_turns: 5}': (
                f'{{id: latency_p95, kind: latency_p95, threshold: "{THRESHOLD_S}", '
                f"window_s: {WINDOW_S}, min_turns: 1}}"
            ),
        },
    )


@pytest.fixture
async def client(
    tmp_path: Path, sink: WebhookSink, online_env: dict[str, str]
) -> AsyncIterator[Any]:
    settings = memory_settings(fast_alerts_squad(tmp_path))
    environ = {**online_env, WEBHOOK_ENV: sink.url}
    async with AsyncTestClient(app=create_app(settings, environ=environ)) as test_client:
        yield test_client


async def alerts(client: Any) -> dict[str, Any]:
    response = await client.get("/admin/api/alerts", headers=ADMIN_HEADERS)
    assert response.status_code == 200, response.text
    return response.json()


async def until(check: Any, timeout_s: float, what: str) -> Any:
    """Poll `check()` (async) until it returns something truthy."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {timeout_s} s: {what}")


async def test_a_latency_regression_notifies_once_then_stays_quiet_in_the_cooldown(
    client: Any, llm: Any, sink: WebhookSink
) -> None:
    before = len(sink.received)
    await chat(client, message=QUESTION)  # fast: nothing to say
    await asyncio.sleep(5 * INTERVAL_S)
    assert len(sink.received) == before and (await alerts(client))["active"] == []

    llm.configure(first_token_ms=SLOW_MS)
    await chat(client, message=QUESTION)
    slow_done = time.monotonic()

    async def notified() -> bool:
        return len(sink.received) > before

    await until(notified, WINDOW_S, "the webhook is told within the window")
    notice = sink.received[before]
    assert sink.times[before] - slow_done < WINDOW_S
    assert set(notice) == {"text"} and "Latência p95" in notice["text"]
    assert "limite: 0,4 s" in notice["text"]
    first = (await alerts(client))["active"]
    assert [(a["rule_id"], a["notice"]) for a in first] == [("latency_p95", "sent")]
    assert Decimal(first[0]["value"]) >= Decimal(SLOW_MS) / 1000 > Decimal(THRESHOLD_S)

    # Still slow for several rounds: the open alert is not notified again.
    await chat(client, message=QUESTION)
    await asyncio.sleep(5 * INTERVAL_S)
    assert len(sink.received) == before + 1

    # No traffic for a window: it resolves. Slow again: a new alert, quiet in the cooldown.
    async def resolved() -> bool:
        return (await alerts(client))["active"] == []

    await until(resolved, WINDOW_S + 2, "the alert resolves once the window has no slow turn")
    await chat(client, message=QUESTION)

    async def reopened() -> list[Any]:
        return (await alerts(client))["active"]

    again = await until(reopened, WINDOW_S, "the regression opens a new alert")
    await asyncio.sleep(5 * INTERVAL_S)
    assert [(a["rule_id"], a["notice"]) for a in again] == [("latency_p95", "cooldown")]
    past = (await alerts(client))["past"]
    assert [(a["id"], a["notice"]) for a in past] == [(first[0]["id"], "sent")]
    assert past[0]["resolved_at"] is not None
    assert len(sink.received) == before + 1


async def test_the_alerts_api_needs_the_admin_token(client: Any) -> None:
    response = await client.get("/admin/api/alerts")
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"


def slow_turn(latency_ms: int) -> TurnRow:
    return TurnRow(
        at=utcnow(),
        thread_id="t-1",
        user_id=None,
        channel="api",
        agent_id="max",
        route_layer="rules",
        model_profile="default",
        offline=False,
        latency_ms=latency_ms,
        ttft_ms=None,
        input_tokens=1,
        output_tokens=1,
        cost_usd_micros=0,
        cost_brl_micros=0,
        error_code=None,
    )


async def test_two_evaluators_at_once_notify_once(
    postgres_url: str, tmp_path: Path, sink: WebhookSink
) -> None:
    rule = AlertRule(id="lenta", kind="latency_p95", threshold=Decimal(1), window_s=60)
    config = Alerts(rules=[rule], cooldown_s=COOLDOWN_S)
    before = len(sink.received)
    async with open_stores(store_settings(postgres_url, tmp_path)) as stores:
        log = TurnLog(stores.db)
        log.record(slow_turn(5000))
        await log.flush()
        # Both believe they hold the lease (as while Redis is down): the table decides.
        evaluators = [
            AlertEvaluator(
                config, stores.db, LocalLease(), WebhookNotifier(sink.url, 5), fallback_agent="max"
            )
            for _ in range(2)
        ]
        await asyncio.gather(*(e.evaluate(utcnow()) for e in evaluators))
        for evaluator in evaluators:
            await evaluator.aclose()
    assert len(sink.received) == before + 1


async def test_one_worker_holds_the_evaluator_lease_until_it_lets_go(redis_url: str) -> None:
    client = connect_redis(redis_url)
    key = f"esquadra-test:{uuid.uuid4().hex}:alerts:evaluator"
    first, second = (RedisLease(GuardedRedis(client), key, ttl_s=5) for _ in range(2))
    try:
        assert await first.hold() is True
        assert await second.hold() is False
        assert await first.hold() is True  # renewing its own
        await first.release()
        assert await second.hold() is True
    finally:
        await client.delete(key)
        await client.aclose()


def turn_row(**changes: Any) -> TurnRow:
    return slow_turn(100)._replace(**changes)


def cost_row(agent_id: str, brl_micros: int) -> CostRow:
    at = utcnow()
    return CostRow(
        at, at.date().isoformat(), "agent", agent_id, "t-1", None, "api", "default", 1, 1, 0,
        brl_micros,
    )  # fmt: skip


KINDS = {
    # kind: (rule, the turns written, a phrase of the Portuguese message)
    "error_rate": (
        AlertRule(id="erros", kind="error_rate", threshold=Decimal("0.02"), min_turns=4),
        [turn_row(), turn_row(), turn_row(), turn_row(error_code="provider_error")],
        "Taxa de erro de 25,0 % nos últimos 5 min (limite: 2,0 %)",
    ),
    "fallback_share": (
        AlertRule(id="reserva", kind="fallback_share", threshold=Decimal("0.5"), window_s=3600),
        [turn_row(), turn_row(), *[turn_row(route_layer="fallback")] * 3],
        "60,0 % das mensagens foram para o agente reserva (max)",
    ),
    "daily_cost": (
        AlertRule(id="custo_lia", kind="daily_cost", threshold=Decimal("1.50"), agent="lia"),
        # Costs come from the cost ledger (every model call), not from the turns' rows.
        [cost_row("max", 10**7), cost_row("lia", 1_600_000)],
        "Custo de hoje do agente lia em R$ 1,60, acima do orçamento de R$ 1,50",
    ),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_each_kind_of_rule_fires_on_its_own_figure(
    kind: str, tmp_path: Path, sink: WebhookSink
) -> None:
    rule, rows, phrase = KINDS[kind]
    async with open_stores(store_settings(None, tmp_path)) as stores:
        log = TurnLog(stores.db)
        for row in rows[:-1]:
            log.record(row)
        await log.flush()
        evaluator = AlertEvaluator(Alerts(rules=[rule]), stores.db, LocalLease(), None, "max")
        await evaluator.evaluate(utcnow())
        assert await evaluator.store.active() == {}  # one turn short of the threshold
        log.record(rows[-1])
        await log.flush()
        await evaluator.evaluate(utcnow())
        alert = (await evaluator.store.active())[rule.id]
        await evaluator.aclose()
    assert phrase in alert.message and alert.notice == "off"


async def test_trace_runs_lost_in_the_window_fire_the_trace_rule(tmp_path: Path) -> None:
    from core.trace_health import record_export_problem

    rule = AlertRule(id="traces", kind="trace_export", threshold=Decimal(0), window_s=60)
    async with open_stores(store_settings(None, tmp_path)) as stores:
        evaluator = AlertEvaluator(Alerts(rules=[rule]), stores.db, LocalLease(), None, "max")
        await evaluator.evaluate(utcnow())
        assert await evaluator.store.active() == {}
        record_export_problem("failed", runs=3)
        evaluator.traces.sample()
        await evaluator.evaluate(utcnow())
        alert = (await evaluator.store.active())["traces"]
        await evaluator.aclose()
    assert alert.value == 3 and "3 registros de rastreamento" in alert.message


async def test_a_refused_notice_is_sent_again_on_the_next_round(
    tmp_path: Path, sink: WebhookSink
) -> None:
    rule = AlertRule(id="lenta2", kind="latency_p95", threshold=Decimal(1), window_s=60)
    before = len(sink.received)
    async with open_stores(store_settings(None, tmp_path)) as stores:
        log = TurnLog(stores.db)
        log.record(slow_turn(5000))
        await log.flush()
        notifier = WebhookNotifier(sink.url, 5)
        evaluator = AlertEvaluator(Alerts(rules=[rule]), stores.db, LocalLease(), notifier, "max")
        sink.status = 503
        try:
            await evaluator.evaluate(utcnow())
            assert (await evaluator.store.active())["lenta2"].notice == "failed"
        finally:
            sink.status = 200
        await evaluator.evaluate(utcnow())
        alert = (await evaluator.store.active())["lenta2"]
        await evaluator.evaluate(utcnow())
        await evaluator.aclose()
    assert (alert.notice, alert.notice_attempts) == ("sent", 2)
    assert len(sink.received) == before + 1


async def test_two_workers_on_one_redis_run_one_evaluator(
    postgres_url: str, redis_url: str, tmp_path: Path, online_env: dict[str, str]
) -> None:
    """Two apps (as `--workers 2` runs them) on the same Postgres and Redis: only the lease
    holder evaluates."""
    settings = Settings(
        config_path=fast_alerts_squad(tmp_path),
        database_url=postgres_url,
        data_dir=tmp_path,
        redis_url=redis_url,
        redis_prefix=f"esquadra-test:{uuid.uuid4().hex}:",
    )
    apps = [create_app(settings, environ=online_env) for _ in range(2)]
    async with AsyncTestClient(app=apps[0]) as first, AsyncTestClient(app=apps[1]) as second:
        await asyncio.sleep(10 * INTERVAL_S)
        rounds = sorted(c.app.state.alerts.rounds for c in (first, second))
    assert rounds[0] == 0 and rounds[1] >= 5
