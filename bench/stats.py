"""Turn results and the numbers the report is made of (percentiles, windows, error counts)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class TurnResult:
    """One chat turn as the load generator saw it. Times are seconds since the run started."""

    started: float
    ended: float
    latency_ms: float
    ttft_ms: float | None = None
    route_ms: float | None = None
    error: str | None = None
    agent: str | None = None
    detail: str | None = None  # what went wrong, for errors only (e.g. the exception)

    @property
    def ok(self) -> bool:
        return self.error is None


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100) of `values`; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low, high = math.floor(pos), math.ceil(pos)
    if low == high:
        return ordered[low]
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def summarize(results: Iterable[TurnResult], wall_s: float) -> dict[str, Any]:
    """Counts, error kinds and latency percentiles of successful turns over `wall_s` seconds."""
    results = list(results)
    ok = [r for r in results if r.ok]
    latencies = [r.latency_ms for r in ok]
    ttfts = [r.ttft_ms for r in ok if r.ttft_ms is not None]
    routes = [r.route_ms for r in ok if r.route_ms is not None]
    errors = Counter(r.error for r in results if r.error is not None)
    agents = Counter(r.agent for r in ok if r.agent)
    summary: dict[str, Any] = {
        "requests": len(results),
        "ok": len(ok),
        "errors": sum(errors.values()),
        "errors_by_kind": dict(errors.most_common()),
        # One example per kind: "connection" alone does not say refused vs reset vs disconnected.
        "error_examples": {
            kind: next(r.detail for r in results if r.error == kind) for kind in errors
        },
        "p50_ms": _rounded(percentile(latencies, 50)),
        "p95_ms": _rounded(percentile(latencies, 95)),
        "p99_ms": _rounded(percentile(latencies, 99)),
        "ttft_p50_ms": _rounded(percentile(ttfts, 50)),
        "ttft_p95_ms": _rounded(percentile(ttfts, 95)),
        "throughput_rps": round(len(ok) / wall_s, 2) if wall_s > 0 else 0.0,
        "agents": dict(agents.most_common()),
    }
    if routes:
        summary["route_p50_ms"] = _rounded(percentile(routes, 50))
        summary["route_p95_ms"] = _rounded(percentile(routes, 95))
    return summary


def timeline(
    results: Iterable[TurnResult], window_s: float, active: Sequence[tuple[float, int]] = ()
) -> list[dict[str, Any]]:
    """Per-window p50/p95 and throughput, by the time turns ended; `active` = (t, users) samples."""
    buckets: dict[int, list[TurnResult]] = {}
    for r in results:
        buckets.setdefault(int(r.ended // window_s), []).append(r)
    rows = []
    for index in sorted(buckets):
        rs = buckets[index]
        lat = [r.latency_ms for r in rs if r.ok]
        start, end = index * window_s, (index + 1) * window_s
        users = [n for t, n in active if start <= t < end]
        rows.append(
            {
                "t_s": end,
                "users": max(users) if users else None,
                "p50_ms": _rounded(percentile(lat, 50)),
                "p95_ms": _rounded(percentile(lat, 95)),
                "rps": round(len(lat) / window_s, 2),
                "errors": sum(1 for r in rs if not r.ok),
            }
        )
    return rows
