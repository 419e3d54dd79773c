"""The metrics dashboard: its page (`GET /admin/dashboard`) and its data
(`GET /admin/api/metrics/timeseries`, admin token), read from `chat_turns`.

The page signs in like the admin page (server/admin_page.py): the operator's `ADMIN_TOKEN` in
this tab's `sessionStorage`, sent as `Authorization: Bearer` to `/admin/api`; the page itself
is public and holds no data. Its charts are drawn by Chart.js, vendored in
`server/static/vendor/` (no CDN).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import msgspec
from litestar import Response, get
from litestar.datastructures import State
from litestar.params import Parameter

from checkpointing.sql import iso, utcnow
from checkpointing.turn_log import TurnLog
from checkpointing.turn_stats import daily_by_agent, daily_by_layer, latency_series
from server.admin_page import render_admin_page, static_page
from server.admin_routes import DAY_ZONE, start_of_day
from server.schemas import ErrorBody, response_spec

# About this many points on the latency chart when the caller names no bucket.
_POINTS = 48
_AUTH = {
    400: response_spec(ErrorBody, description="Invalid query parameter: `{code, message}`."),
    401: response_spec(ErrorBody, description="`unauthorized`: missing or wrong admin token."),
    404: response_spec(ErrorBody, description="`admin_disabled`: no ADMIN_TOKEN set."),
}


class LatencyPointView(msgspec.Struct):
    at: str  # the bucket's start, UTC
    turns: int
    p50_ms: int
    p95_ms: int


class LatencyView(msgspec.Struct):
    bucket_s: int
    points: list[LatencyPointView]


class DayAgentView(msgspec.Struct):
    day: str  # YYYY-MM-DD in São Paulo
    agent: str | None  # null: the turn failed before routing
    turns: int
    errors: int
    cost_brl: str


class DayLayerView(msgspec.Struct):
    day: str
    layer: str | None
    turns: int


class TimeseriesReply(msgspec.Struct):
    generated_at: str
    zone: str
    latency: LatencyView
    days: list[DayAgentView]
    layers: list[DayLayerView]


@get(
    "/admin/api/metrics/timeseries",
    summary="Admin: latency over time, volume and cost per agent and day, routing mix",
    description="Latency p50/p95 (nearest rank) per `bucket_s` over the last `hours`; turns, "
    "errors and cost in reais per agent and per day (São Paulo), and turns per routing layer "
    "and day, over the last `days`. From the per-turn rows (`chat_turns`).",
    responses=_AUTH,
)
async def metrics_timeseries(
    state: State,
    hours: Annotated[int, Parameter(ge=1, le=24 * 31)] = 24,
    days: Annotated[int, Parameter(ge=1, le=366)] = 14,
    bucket_s: Annotated[int | None, Parameter(ge=60, le=86_400)] = None,
) -> TimeseriesReply:
    turns: TurnLog = state.turn_log
    await turns.flush()  # this worker's own latest turns count too
    db = turns.db
    now = utcnow()
    bucket = bucket_s or max(60, (hours * 3600 // _POINTS) // 60 * 60)
    first_day = start_of_day(now) - timedelta(days=days - 1)
    offset = first_day.utcoffset() or timedelta(0)
    points = await latency_series(db, now - timedelta(hours=hours), now, bucket)
    per_agent = await daily_by_agent(db, first_day, offset)
    per_layer = await daily_by_layer(db, first_day, offset)
    return TimeseriesReply(
        generated_at=iso(now) or "",
        zone=DAY_ZONE,
        latency=LatencyView(
            bucket_s=bucket,
            points=[
                LatencyPointView(iso(p.start) or "", p.turns, p.p50_ms, p.p95_ms) for p in points
            ],
        ),
        days=[
            DayAgentView(d.day, d.agent_id, d.turns, d.errors, str(d.cost_brl)) for d in per_agent
        ],
        layers=[DayLayerView(d.day, d.layer, d.turns) for d in per_layer],
    )


@get("/admin/dashboard", include_in_schema=False, opt={"access": "public"})
async def dashboard_page(state: State) -> Response[str]:
    """The dashboard page; whether the admin API is enabled is rendered into it."""
    return render_admin_page(state, dashboard_template())


def dashboard_template() -> str:
    return static_page("dashboard.html")


DASHBOARD_ROUTES = [metrics_timeseries, dashboard_page]
