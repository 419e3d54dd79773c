"""Prometheus metrics: `GET /metrics`, one consistent view across `esquadra serve --workers N`.

What is measured, always with bounded labels (route templates, the squad's agent ids, routing
layer names, channels, error codes from a known set; anything else is `other`):

- `esquadra_http_requests_total{route, method, status}`: every routed request, by the route's
  template (`/v1/threads/{thread_id:str}`), never the raw path;
- per turn, observed once when it ends (`ChatService` through `MetricsHook`, never per token):
  end-to-end latency and time to first token by agent, classification time by the layer that
  decided, turns by agent and layer, errors by code, tokens and reais by agent and kind
  (`agent` reply or `routing` call, the cost ledger's rows), and the wait for the thread's lock;
- `esquadra_active_streams`: turns streaming now (summed over live workers);
- `esquadra_redis_degraded`: 1 while a worker's Redis breaker is open (max over live workers);
- `esquadra_trace_runs_lost_total{kind}`: trace runs dropped or failed to export
  (`core/trace_health.py`), copied in every few seconds.

**Several workers.** prometheus_client keeps each worker's values in memory-mapped files under
`PROMETHEUS_MULTIPROC_DIR` and `/metrics` sums them (`MultiProcessCollector`), so whichever
worker answers the scrape, the figures are the same. The library chooses that mode when it is
imported, from the environment, before any of our code runs in the worker: that is why
`esquadra serve` (which otherwise never writes the environment) sets the variable itself
before it starts the workers, in a directory of its own for the run, removed when it ends
(`multiprocess_settings`). A worker that stops cleanly marks itself dead, so the gauges summed over
live workers forget it.

**Why /metrics is open**, like `/healthz`: it shows counts and timings, no message, id or key,
and scrapers rarely carry credentials. Where the port is reachable from outside, keep
`/metrics` off the public route at the proxy.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from litestar import get
from litestar.datastructures import State
from litestar.types import Scope
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from checkpointing.cost_ledger import CostRow
from checkpointing.turn_log import TurnRow
from core.settings import Settings
from core.trace_health import export_problems

log = logging.getLogger("esquadra.metrics")

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
SYNC_INTERVAL_S = 5.0  # how stale another worker's Redis state and trace counts may be

# What a route's `layer` can be: the layers' names, "mention" (rules: "@leo"), "fallback".
LAYERS = frozenset({"mention", "rules", "examples", "followup", "semantic", "llm", "fallback"})
CHANNELS = frozenset({"api", "web", "whatsapp", "cli"})
TURN_ERRORS = frozenset(
    {
        "provider_error",
        "provider_timeout",
        "internal_error",
        "interrupted",
        "superseded",
        "incomplete",
    }
)
OTHER = "other"
# Seconds. A turn's target is < 3 s; the first token should come well before.
TURN_BUCKETS = (0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 13.0, 30.0, 60.0)
ROUTING_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
WAIT_BUCKETS = (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """The process's metrics. Built once per app (its own registry, so several apps in one
    process — tests — never collide); `MetricsHook` for `ChatService`."""

    def __init__(self, multiproc_dir: Path | None = None, agents: Collection[str] = ()) -> None:
        self.agents = frozenset(agents)  # the squad's ids, set when the squad is loaded
        self.multiproc_dir = multiproc_dir
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "esquadra_http_requests",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.turn_seconds = Histogram(
            "esquadra_turn_seconds",
            "End-to-end time of answered turns, by agent.",
            ["agent"],
            buckets=TURN_BUCKETS,
            registry=r,
        )
        self.ttft_seconds = Histogram(
            "esquadra_turn_ttft_seconds",
            "Time to the first token of answered turns, by agent.",
            ["agent"],
            buckets=TURN_BUCKETS,
            registry=r,
        )
        self.routing_seconds = Histogram(
            "esquadra_routing_seconds",
            "Classification time, by the routing layer that decided.",
            ["layer"],
            buckets=ROUTING_BUCKETS,
            registry=r,
        )
        self.turns = Counter(
            "esquadra_turns", "Turns by agent and deciding layer.", ["agent", "layer"], registry=r
        )
        self.errors = Counter(
            "esquadra_turn_errors", "Turns that ended in an error, by code.", ["code"], registry=r
        )
        self.tokens = Counter(
            "esquadra_model_tokens",
            "Model tokens by agent, kind (agent reply or routing call) and direction.",
            ["agent", "kind", "direction"],
            registry=r,
        )
        self.cost_brl = Counter(
            "esquadra_model_cost_brl",
            "Model cost in reais by agent and kind (the cost ledger's rows; the ledger is exact).",
            ["agent", "kind"],
            registry=r,
        )
        self.gate_wait = Histogram(
            "esquadra_gate_wait_seconds",
            "Time a turn waited for its thread's lock, by channel.",
            ["channel"],
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        self.active_streams = Gauge(
            "esquadra_active_streams",
            "Turns streaming now.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.redis_degraded = Gauge(
            "esquadra_redis_degraded",
            "1 while Redis is failing and a worker runs on its fallbacks.",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.trace_lost = Counter(
            "esquadra_trace_runs_lost",
            "Trace runs not exported: dropped (queue full) or failed (receiver error).",
            ["kind"],
            registry=r,
        )
        for kind in ("dropped", "failed"):  # present at 0, so a rate() sees the first loss
            self.trace_lost.labels(kind)
        self._trace_seen: dict[str, int] = {}
        self._redis: Any = None
        self._task: asyncio.Task[None] | None = None

    # ---- MetricsHook (ChatService): a few calls per turn, never per token

    def stream_opened(self) -> None:
        self.active_streams.inc()

    def stream_closed(self) -> None:
        self.active_streams.dec()

    def turn_finished(
        self,
        row: TurnRow,
        costs: Sequence[CostRow],
        routing_s: float | None,
        gate_wait_s: float,
    ) -> None:
        agent = self._agent(row.agent_id)
        layer = row.route_layer if row.route_layer in LAYERS else OTHER
        if row.agent_id is not None:
            self.turns.labels(agent, layer).inc()
        if routing_s is not None:
            self.routing_seconds.labels(layer).observe(routing_s)
        if row.error_code is None:
            self.turn_seconds.labels(agent).observe(row.latency_ms / 1000)
            if row.ttft_ms is not None:
                self.ttft_seconds.labels(agent).observe(row.ttft_ms / 1000)
        else:
            code = row.error_code if row.error_code in TURN_ERRORS else OTHER
            self.errors.labels(code).inc()
        channel = row.channel if row.channel in CHANNELS else OTHER
        self.gate_wait.labels(channel).observe(gate_wait_s)
        for cost in costs:
            kind = cost.kind
            self.tokens.labels(agent, kind, "input").inc(cost.input_tokens)
            self.tokens.labels(agent, kind, "output").inc(cost.output_tokens)
            self.cost_brl.labels(agent, kind).inc(cost.cost_brl_micros / 1_000_000)

    def _agent(self, agent_id: str | None) -> str:
        if agent_id is None:
            return "none"
        return agent_id if agent_id in self.agents else OTHER

    # ---- the worker's own state, copied in every few seconds and before a scrape

    def watch_redis(self, redis: Any) -> None:
        """Report this breaker's state (`GuardedRedis`: degraded while `last_error` is set)."""
        self._redis = redis

    def sync(self) -> None:
        """Copy this worker's Redis state and new trace export problems into the metrics."""
        if self._redis is not None:
            self.redis_degraded.set(1 if self._redis.last_error is not None else 0)
        for kind, count in export_problems().items():
            new = count - self._trace_seen.get(kind, 0)
            if new > 0:
                self.trace_lost.labels(kind).inc(new)
                self._trace_seen[kind] = count

    def start(self) -> None:
        self.sync()
        self._task = asyncio.create_task(self._run(), name="metrics-sync")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(SYNC_INTERVAL_S)
            self.sync()

    async def aclose(self) -> None:
        """Stop syncing; a worker of several marks itself dead (its live gauges go away)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.multiproc_dir is not None:
            multiprocess.mark_process_dead(os.getpid(), str(self.multiproc_dir))

    def exposition(self) -> bytes:
        """The text format: every worker's values summed (several workers), or this one's."""
        self.sync()
        if self.multiproc_dir is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(self.multiproc_dir))
        return generate_latest(registry)

    # ---- HTTP requests: counted by the request-id middleware when each one ends

    def count_request(self, scope: Scope, status: int) -> None:
        """Count one request by its route template and status (a request the router refused —
        unknown path, 405 — never reaches route middleware)."""
        route = scope.get("path_template") or OTHER
        self.requests.labels(route, scope.get("method", ""), str(status)).inc()


@get(
    "/metrics",
    summary="Prometheus metrics (text format); open, like /healthz",
    media_type=CONTENT_TYPE_LATEST,
)
async def metrics_route(state: State) -> bytes:
    metrics: Metrics = state.metrics
    # Several workers: reading their files is disk I/O, kept off the event loop.
    return await asyncio.to_thread(metrics.exposition)


METRICS_ROUTES = [metrics_route]


def multiprocess_settings(settings: Settings, workers: int) -> Settings:
    """The settings the workers get. With several workers and no `PROMETHEUS_MULTIPROC_DIR` of
    the operator's: a fresh directory for this run, put in the environment the workers inherit
    (prometheus_client reads it there, when imported) and removed when this process exits
    (`esquadra serve` returns after stopping its workers, on SIGTERM or Ctrl-C too)."""
    if workers <= 1 or settings.prometheus_multiproc_dir is not None:
        return settings
    run_dir = Path(tempfile.mkdtemp(prefix="esquadra-metrics-"))
    os.environ[MULTIPROC_VARIABLE] = str(run_dir)
    atexit.register(shutil.rmtree, run_dir, ignore_errors=True)
    return settings.model_copy(update={"prometheus_multiproc_dir": run_dir})
