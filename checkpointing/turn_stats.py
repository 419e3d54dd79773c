"""Figures over `chat_turns` for the alerts and the dashboard: windows, time buckets, days.

Read-only and written once for both dialects; only the epoch of a row's `at` is spelled per
dialect (`_epoch`). Percentiles are nearest rank by a window function, like
`TurnLog.figures`. Days are local days: a bucket is `floor((epoch + offset_s) / 86400)` with the
zone's UTC offset, exact for São Paulo (no daylight saving time since 2019).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from checkpointing.sql import Database
from checkpointing.turn_log import from_micros

# The router's own decision when no layer was sure (nodes/routing/_router.py).
FALLBACK_LAYER = "fallback"
DAY_S = 86_400


@dataclass(frozen=True)
class WindowStats:
    """The turns since a moment: how many, how many failed, how they were routed, p95."""

    turns: int
    errors: int
    routed: int  # turns that reached an agent
    fallback: int  # of those, given to the fallback agent because no layer was sure
    p95_latency_ms: int | None


@dataclass(frozen=True)
class LatencyPoint:
    start: datetime
    turns: int
    p50_ms: int
    p95_ms: int


@dataclass(frozen=True)
class DayAgent:
    day: str  # YYYY-MM-DD, local
    agent_id: str | None  # None: failed before routing
    turns: int
    errors: int
    cost_brl: Decimal


@dataclass(frozen=True)
class DayLayer:
    day: str
    layer: str | None  # None: failed before routing
    turns: int


def _epoch(db: Database) -> str:
    if db.dialect == "postgres":
        return "EXTRACT(EPOCH FROM at)"
    return "((julianday(at) - 2440587.5) * 86400.0)"  # SQLite's text timestamps


def _bucket(db: Database) -> str:
    """The bucket number of a row: params (offset_s, size_s)."""
    if db.dialect == "postgres":
        return f"CAST(FLOOR(({_epoch(db)} + %s) / %s) AS BIGINT)"
    return f"CAST(({_epoch(db)} + %s) / %s AS INTEGER)"  # epochs are positive: truncation


def _agent_filter(agent_id: str | None) -> tuple[str, tuple[str, ...]]:
    return ("", ()) if agent_id is None else (" AND agent_id = %s", (agent_id,))


async def window_stats(db: Database, since: datetime, agent_id: str | None = None) -> WindowStats:
    """The turns since `since` (of `agent_id`, or all)."""
    where, params = _agent_filter(agent_id)
    async with db.transaction() as tx:
        totals = await tx.fetchone(
            "SELECT COUNT(*), "
            "SUM(CASE WHEN error_code IS NULL THEN 0 ELSE 1 END), "
            "SUM(CASE WHEN agent_id IS NULL THEN 0 ELSE 1 END), "
            "SUM(CASE WHEN route_layer = %s THEN 1 ELSE 0 END) "
            f"FROM chat_turns WHERE at >= %s{where}",
            (FALLBACK_LAYER, since, *params),
        )
        rank = await tx.fetchone(
            "SELECT MIN(CASE WHEN rn >= 0.95 * n THEN latency_ms END) "
            "FROM (SELECT latency_ms, ROW_NUMBER() OVER (ORDER BY latency_ms) AS rn, "
            f"COUNT(*) OVER () AS n FROM chat_turns WHERE at >= %s{where}) ranked",
            (since, *params),
        )
    turns, errors, routed, fallback = totals or (0, 0, 0, 0)
    p95 = rank[0] if rank is not None else None
    return WindowStats(
        turns=int(turns or 0),
        errors=int(errors or 0),
        routed=int(routed or 0),
        fallback=int(fallback or 0),
        p95_latency_ms=None if p95 is None else int(p95),
    )


async def daily_cost_brl(db: Database, since: datetime, agent_id: str | None = None) -> Decimal:
    """Reais spent since `since` (the start of the day), by `agent_id` or the whole squad.

    The one place the alerts read cost from: the cost ledger (`model_costs`), so every model
    call counts, the llm routing layer's included."""
    where, params = _agent_filter(agent_id)
    row = await db.fetchone(
        f"SELECT SUM(cost_brl_micros) FROM model_costs WHERE at >= %s{where}", (since, *params)
    )
    return from_micros(int(row[0] or 0) if row is not None else 0)


async def latency_series(
    db: Database, since: datetime, until: datetime, bucket_s: int
) -> list[LatencyPoint]:
    """p50/p95 of the turns' latency per `bucket_s` bucket between `since` and `until`; buckets
    without turns are left out."""
    bucket = _bucket(db)
    async with db.transaction() as tx:
        rows = await tx.fetchall(
            "SELECT b, COUNT(*), "
            "MIN(CASE WHEN rn >= 0.5 * n THEN latency_ms END), "
            "MIN(CASE WHEN rn >= 0.95 * n THEN latency_ms END) "
            "FROM (SELECT b, latency_ms, "
            "ROW_NUMBER() OVER (PARTITION BY b ORDER BY latency_ms) AS rn, "
            "COUNT(*) OVER (PARTITION BY b) AS n "
            f"FROM (SELECT {bucket} AS b, latency_ms FROM chat_turns "
            "WHERE at >= %s AND at < %s) bucketed) ranked "
            "GROUP BY b ORDER BY b",
            (0, bucket_s, since, until),
        )
    return [
        LatencyPoint(
            start=datetime.fromtimestamp(int(b) * bucket_s, UTC),
            turns=int(n),
            p50_ms=int(p50),
            p95_ms=int(p95),
        )
        for b, n, p50, p95 in rows
    ]


async def daily_by_agent(db: Database, since: datetime, offset: timedelta) -> list[DayAgent]:
    """Turns, errors and cost per local day (UTC `offset`) and agent since `since`."""
    bucket = _bucket(db)
    offset_s = int(offset.total_seconds())
    async with db.transaction() as tx:
        rows = await tx.fetchall(
            f"SELECT {bucket} AS d, agent_id, COUNT(*), "
            "SUM(CASE WHEN error_code IS NULL THEN 0 ELSE 1 END), SUM(cost_brl_micros) "
            "FROM chat_turns WHERE at >= %s GROUP BY 1, 2 ORDER BY 1, 2",
            (offset_s, DAY_S, since),
        )
    return [
        DayAgent(_day(d), agent, int(n), int(errors or 0), from_micros(int(brl or 0)))
        for d, agent, n, errors, brl in rows
    ]


async def daily_by_layer(db: Database, since: datetime, offset: timedelta) -> list[DayLayer]:
    """Turns per local day and routing layer since `since`."""
    bucket = _bucket(db)
    offset_s = int(offset.total_seconds())
    async with db.transaction() as tx:
        rows = await tx.fetchall(
            f"SELECT {bucket} AS d, route_layer, COUNT(*) FROM chat_turns "
            "WHERE at >= %s GROUP BY 1, 2 ORDER BY 1, 2",
            (offset_s, DAY_S, since),
        )
    return [DayLayer(_day(d), layer, int(n)) for d, layer, n in rows]


def _day(bucket: int) -> str:
    """A local day's bucket number as YYYY-MM-DD (day 0 is 1970-01-01, local)."""
    return (datetime(1970, 1, 1) + timedelta(days=int(bucket))).strftime("%Y-%m-%d")
