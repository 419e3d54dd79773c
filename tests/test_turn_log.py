"""The per-turn row (`chat_turns`): one per turn, answered or failed, written off the hot path
(a bounded queue, batches, flushed at shutdown), and read back as each agent's day."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import chat, store_settings
from litestar.testing import AsyncTestClient

from checkpointing import open_stores
from checkpointing.sql import utcnow
from checkpointing.turn_log import TurnLog, TurnRow, from_micros, to_micros
from server.app import create_app

MARKETING_QUESTION = "me ajuda com um post pro dia dos pais"
COLUMNS = "agent_id, route_layer, model_profile, latency_ms, ttft_ms, input_tokens, " + (
    "output_tokens, cost_usd_micros, cost_brl_micros, error_code, channel, user_id, thread_id"
)


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    return store_settings(url, tmp_path)


async def rows(settings: Any) -> list[dict[str, Any]]:
    async with open_stores(settings) as stores, stores.db.transaction() as tx:
        found = await tx.fetchall(f"SELECT {COLUMNS} FROM chat_turns ORDER BY id")
    return [dict(zip(COLUMNS.split(", "), row, strict=True)) for row in found]


async def clear(settings: Any) -> None:
    async with open_stores(settings) as stores, stores.db.transaction() as tx:
        await tx.execute("DELETE FROM chat_turns")  # the Postgres database is per module


async def test_answered_and_failed_turns_each_leave_a_row(
    settings: Any, online_env: dict[str, str], llm: Any
) -> None:
    await clear(settings)
    async with AsyncTestClient(app=create_app(settings, environ=online_env)) as client:
        done = (await chat(client, message=MARKETING_QUESTION, user_id="ana@api"))[-1]
        llm.configure(fail_status=500, fail_count=5)
        failed = (await chat(client, message=MARKETING_QUESTION, user_id="ana@api"))[-1]
    # Closing the app wrote what was still queued.
    ok, error = await rows(settings)
    assert done[0] == "done" and failed[0] == "error"
    assert ok["agent_id"] == "max" and ok["route_layer"] and ok["model_profile"] == "default"
    assert ok["latency_ms"] == done[1]["latency_ms"] and ok["ttft_ms"] == done[1]["ttft_ms"]
    assert ok["input_tokens"] == done[1]["usage"]["input_tokens"] > 0
    assert ok["output_tokens"] == done[1]["usage"]["output_tokens"] > 0
    assert from_micros(ok["cost_brl_micros"]) == from_micros(to_micros(done[1]["cost"]["brl"]))
    assert ok["cost_usd_micros"] > 0 and ok["error_code"] is None
    assert (ok["channel"], ok["user_id"], ok["thread_id"]) == (
        "api",
        "ana@api",
        done[1]["thread_id"],
    )
    assert error["agent_id"] == "max" and error["route_layer"] == "followup"  # same thread
    assert error["error_code"] == failed[1]["code"] == "provider_error"
    assert error["latency_ms"] >= 0 and error["cost_brl_micros"] == 0


async def test_a_full_queue_drops_and_counts_rows_without_raising(settings: Any) -> None:
    async with open_stores(settings) as stores:
        log = TurnLog(stores.db, queue_size=2)  # no writer task: the queue only fills
        for n in range(5):
            log.record(_row(latency_ms=n))
        assert (log.queued, log.dropped) == (2, 3)
        await log.aclose()
        assert log.written == 2


async def test_figures_are_per_agent_since_the_day_started(settings: Any) -> None:
    await clear(settings)
    now = utcnow()
    async with open_stores(settings) as stores:
        log = TurnLog(stores.db, batch_size=7)  # several batches
        for latency in range(100, 0, -1):  # 1..100 ms, out of order
            log.record(_row(latency_ms=latency, brl="0.000101"))
        log.record(_row(latency_ms=5, error_code="provider_error"))
        log.record(_row(agent_id="lia", latency_ms=40))
        log.record(_row(at=now - timedelta(days=1), latency_ms=9_999))  # yesterday
        log.start()
        await log.aclose()
        figures = await log.figures(now - timedelta(hours=1))
    max_, lia = figures["max"], figures["lia"]
    assert (max_.messages, max_.errors) == (101, 1)
    # Nearest rank over 1..100 plus one more 5: the 51st value is 50, the 96th is 95.
    assert (max_.p50_latency_ms, max_.p95_latency_ms) == (50, 95)
    assert str(max_.cost_brl) == "0.010100"  # 100 × 0.000101, exactly
    assert (lia.messages, lia.p50_latency_ms, lia.p95_latency_ms) == (1, 40, 40)


def _row(
    *,
    agent_id: str = "max",
    latency_ms: int,
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
        route_layer="rules",
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


async def test_record_never_waits(settings: Any) -> None:
    async with open_stores(settings) as stores:
        log = TurnLog(stores.db)
        log.start()
        # A plain function, not a coroutine: a turn cannot await the database by mistake.
        assert not asyncio.iscoroutinefunction(log.record)
        log.record(_row(latency_ms=1))
        await log.aclose()
        assert log.written == 1
