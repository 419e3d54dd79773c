"""One PNG per run: latency and throughput against load, one line per target."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: no display on servers or in CI

import matplotlib.pyplot as plt


def plot_report(report: dict[str, Any], path: Path) -> Path:
    """Users mode: p50/p95 and replies/s over time (with active users); capacity: per step."""
    capacity = report["config"].get("mode") == "capacity"
    fig, (lat_ax, rps_ax) = plt.subplots(2, 1, figsize=(10, 8), sharex=True)
    users_ax = None
    for index, (name, summary) in enumerate(report["targets"].items()):
        color = f"C{index}"
        series = summary.get("series") or []
        if capacity:
            xs = [s["offered_rps"] for s in series]
            rps_ax.plot(xs, [s["achieved_rps"] for s in series], "o-", color=color, label=name)
        else:
            xs = [s["t_s"] for s in series]
            rps_ax.plot(xs, [s["rps"] for s in series], "-", color=color, label=name)
            if users_ax is None and any(s.get("users") is not None for s in series):
                users_ax = rps_ax.twinx()
                users_ax.set_ylabel("active users", color="gray")
                users_ax.fill_between(
                    xs, [s.get("users") or 0 for s in series], color="gray", alpha=0.12, step="mid"
                )
        p50 = [s["p50_ms"] for s in series]
        p95 = [s["p95_ms"] for s in series]
        lat_ax.plot(
            xs, p95, "-", marker="o" if capacity else None, color=color, label=f"{name} p95"
        )
        lat_ax.plot(xs, p50, "--", color=color, alpha=0.7, label=f"{name} p50")
    if capacity:
        top = max((s["offered_rps"] for t in report["targets"].values() for s in t["series"]),
                  default=1)  # fmt: skip
        rps_ax.plot([0, top], [0, top], ":", color="gray", label="offered")
        rps_ax.set_xlabel("offered load (requests/s, single-turn conversations)")
        lat_ax.axhline(3000, color="red", lw=0.8, ls=":", label="3 s limit")
    else:
        rps_ax.set_xlabel("time (s); users ramp up over the first 30 s")
    lat_ax.set_ylabel("latency (ms)")
    lat_ax.set_yscale("log")
    rps_ax.set_ylabel("replies/s")
    lat_ax.legend(fontsize=8, ncol=2)
    rps_ax.legend(fontsize=8, loc="upper left")
    cfg = report["config"]
    title = (
        "capacity (step load)" if capacity else f"{cfg['users']} users, think {cfg['think_s']} s"
    )
    fig.suptitle(f"Esquadra load benchmark — {title}; pinned={cfg['pinned']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
