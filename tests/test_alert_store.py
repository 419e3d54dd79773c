"""The alerts' table (migration 8) and the figures the alerts and the dashboard read from
`chat_turns`, on SQLite and the real Postgres."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from conftest import store_settings

from checkpointing import open_stores
from checkpointing.alerts import AlertStore
from checkpointing.cost_ledger import CostRow
from checkpointing.sql import utcnow
from checkpointing.turn_log import TurnLog, TurnRow, to_micros
from checkpointing.turn_stats import (
    daily_by_agent,
    daily_by_layer,
    daily_cost_brl,
    latency_series,
    window_stats,
)

BRT = timedelta(hours=-3)


@pytest.fixture(params=["sqlite", "postgres"])
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    async with open_stores(store_settings(url, tmp_path)) as opened:
        async with opened.db.transaction() as tx:  # the Postgres database is per module
            await tx.execute("DELETE FROM chat_turns")
            await tx.execute("DELETE FROM alerts")
        yield opened


def turn(
    *,
    latency_ms: int,
    agent_id: str | None = "max",
    layer: str | None = "rules",
    brl: str = "0",
    error_code: str | None = None,
    at: Any = None,
) -> TurnRow:
    return TurnRow(
        at=at or utcnow(),
        thread_id="t-1",
        user_id=None,
        channel="api",
        agent_id=agent_id,
        route_layer=layer,
        model_profile="default",
        offline=False,
        latency_ms=latency_ms,
        ttft_ms=None,
        input_tokens=1,
        output_tokens=1,
        cost_usd_micros=0,
        cost_brl_micros=to_micros(brl),
        error_code=error_code,
    )


async def write(db: Any, rows: list[TurnRow]) -> None:
    log = TurnLog(db)
    for row in rows:
        log.record(row)
    await log.flush()


async def test_a_rule_has_one_open_alert_and_may_fire_again_once_resolved(stores: Any) -> None:
    alerts = AlertStore(stores.db)
    now = utcnow()
    first = await alerts.open("lat", "latency_p95", now, Decimal("4.2"), Decimal(3), "lenta")
    second = await alerts.open("lat", "latency_p95", now, Decimal("5"), Decimal(3), "lenta")
    assert first is not None and first.active and first.notice == "pending"
    assert second is None  # the open one is someone else's: no second row, no second notice
    await alerts.update(first.id, Decimal("6.5"))
    await alerts.resolve(first.id, now + timedelta(seconds=5), Decimal("1.1"))
    again = await alerts.open("lat", "latency_p95", now, Decimal("3.5"), Decimal(3), "lenta")
    assert again is not None and again.id != first.id
    past = {a.id: a for a in await alerts.recent()}
    assert past[first.id].resolved_at is not None
    assert (past[first.id].value, past[first.id].last_value) == (Decimal("4.2"), Decimal("1.1"))
    assert list(await alerts.active()) == ["lat"]


async def test_the_cooldown_counts_from_the_last_notice_sent(stores: Any) -> None:
    alerts = AlertStore(stores.db)
    now = utcnow()
    row = await alerts.open("erros", "error_rate", now, Decimal("0.5"), Decimal("0.02"), "x")
    assert row is not None
    assert await alerts.last_notified("erros") is None
    await alerts.set_notice(row.id, "failed")
    assert await alerts.last_notified("erros") is None  # a failed notice does not count
    await alerts.set_notice(row.id, "sent", now)
    sent = await alerts.last_notified("erros")
    assert sent is not None and abs((sent - now).total_seconds()) < 0.001
    assert (await alerts.recent())[0].notice_attempts == 2


async def test_window_stats_count_errors_fallbacks_and_the_p95(stores: Any) -> None:
    now = utcnow()
    old = turn(latency_ms=99_999, at=now - timedelta(minutes=10))
    rows = [turn(latency_ms=ms) for ms in range(100, 2001, 100)]  # 20 turns, 100..2000 ms
    rows[0] = turn(latency_ms=100, layer="fallback")
    rows[1] = turn(latency_ms=200, agent_id=None, layer=None, error_code="internal_error")
    await write(stores.db, [old, *rows])
    stats = await window_stats(stores.db, now - timedelta(minutes=5))
    assert (stats.turns, stats.errors, stats.routed, stats.fallback) == (20, 1, 19, 1)
    assert stats.p95_latency_ms == 1900  # nearest rank: the 19th of 20
    lia = await window_stats(stores.db, now - timedelta(minutes=5), "lia")
    assert (lia.turns, lia.p95_latency_ms) == (0, None)


def call(brl: str, agent_id: str = "max", kind: str = "agent", at: Any = None) -> CostRow:
    at = at or utcnow()
    return CostRow(
        at, at.date().isoformat(), kind, agent_id, "t-1", None, "api", "default", 1, 1, 0,
        to_micros(brl),
    )  # fmt: skip


async def test_daily_cost_is_the_exact_sum_of_every_model_call_since_the_day_started(
    stores: Any,
) -> None:
    now = utcnow()
    log = TurnLog(stores.db)
    for row in (
        call("0.000001", at=now - timedelta(days=1)),
        call("1.100001"),
        call("0.500000", kind="routing"),  # the llm routing layer's call counts too
        call("2.200002", agent_id="lia"),
    ):
        log.record(row)
    await log.flush()
    since = now - timedelta(hours=1)
    assert await daily_cost_brl(stores.db, since) == Decimal("3.800003")
    assert await daily_cost_brl(stores.db, since, "lia") == Decimal("2.200002")


async def test_series_bucket_latency_and_split_days_by_agent_and_layer(stores: Any) -> None:
    now = utcnow()
    yesterday = now - timedelta(days=1)
    await write(
        stores.db,
        [
            turn(latency_ms=100, brl="0.5", at=yesterday),
            turn(latency_ms=300, agent_id="lia", layer="semantic", brl="0.25", at=now),
            turn(latency_ms=500, agent_id="lia", layer="semantic", brl="0.25", at=now),
            turn(latency_ms=900, agent_id="lia", layer="llm", error_code="x", at=now),
        ],
    )
    since = now - timedelta(days=2)
    points = await latency_series(stores.db, since, now + timedelta(seconds=1), 86_400 * 7)
    assert sum(p.turns for p in points) == 4
    recent = await latency_series(stores.db, now - timedelta(hours=1), now + timedelta(1), 60)
    assert [(p.turns, p.p50_ms, p.p95_ms) for p in recent] == [(3, 500, 900)]
    assert recent[0].start <= now < recent[0].start + timedelta(seconds=60)
    days = await daily_by_agent(stores.db, since, BRT)
    by_day = {(d.day, d.agent_id): d for d in days}
    today = (now + BRT).strftime("%Y-%m-%d")
    lia = by_day[(today, "lia")]
    assert (lia.turns, lia.errors, lia.cost_brl) == (3, 1, Decimal("0.500000"))
    assert by_day[((yesterday + BRT).strftime("%Y-%m-%d"), "max")].turns == 1
    layers = {(d.day, d.layer): d.turns for d in await daily_by_layer(stores.db, since, BRT)}
    assert layers[(today, "semantic")] == 2 and layers[(today, "llm")] == 1
