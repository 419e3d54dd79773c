"""The benchmark report as a table for people, and as JSON + PNG under `bench/results/`."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

_COLUMNS = (
    ("target", "target", "{}"),
    ("users", "users", "{}"),
    ("req", "requests", "{}"),
    ("err", "errors", "{}"),
    ("p50 ms", "p50_ms", "{:.0f}"),
    ("p95 ms", "p95_ms", "{:.0f}"),
    ("p99 ms", "p99_ms", "{:.0f}"),
    ("ttft50", "ttft_p50_ms", "{:.0f}"),
    ("ttft95", "ttft_p95_ms", "{:.0f}"),
    ("route95", "route_p95_ms", "{:.1f}"),
    ("rps", "throughput_rps", "{:.1f}"),
    ("cpu ms/reply", "cpu_ms_per_reply", "{:.1f}"),
    ("rss MB", "peak_rss_mb", "{:.0f}"),
    ("workers", "workers", "{}"),
    ("capacity rps", "capacity_rps", "{:.1f}"),
)


def _cell(value: Any, fmt: str) -> str:
    if value is None:
        return "-"
    try:
        return fmt.format(value)
    except (TypeError, ValueError):
        return str(value)


def format_table(report: dict[str, Any]) -> str:
    """One row per target, plus error kinds and what else is worth a look."""
    capacity = report["config"].get("mode") == "capacity"
    columns = [c for c in _COLUMNS if capacity or c[1] != "capacity_rps"]
    rows = [[title for title, _, _ in columns]]
    for name, summary in report["targets"].items():
        values = {**summary, "target": name}
        rows.append([_cell(values.get(key), fmt) for _, key, fmt in columns])
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    lines = ["  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True))
             for row in rows]  # fmt: skip
    lines.insert(1, "  ".join("-" * w for w in widths))
    for name, summary in report["targets"].items():
        notes = []
        if summary.get("errors_by_kind"):
            notes.append(f"errors {summary['errors_by_kind']}")
            notes.append(f"e.g. {summary.get('error_examples')}")
        if summary.get("agents"):
            notes.append(f"agents {summary['agents']}")
        for key in ("db_cpu_ms_per_reply", "stub_cpu_ms_per_reply", "loadgen_cpu_pct"):
            if summary.get(key) is not None:
                notes.append(f"{key} {summary[key]}")
        if notes:
            lines.append(f"{name}: " + "; ".join(notes))
    cfg = report["config"]
    lines.append(
        f"mode {cfg['mode']}, think {cfg['think_s']} s, pinned {cfg['pinned']}, "
        f"{cfg['cpus']} CPUs, load avg at start {cfg['load_avg_at_start']}"
    )
    if cfg.get("reference_loop_ms") is not None:  # reports written before it lack it
        lines.append(
            f"machine: reference loop {cfg['reference_loop_ms']} ms, "
            f"CPU stolen by other guests {cfg.get('cpu_steal_pct')} %"
        )
    return "\n".join(lines)


def write_results(report: dict[str, Any], out_dir: Path) -> tuple[Path, Path | None]:
    """Write `<timestamp>.json` and `<timestamp>.png` into `out_dir`; returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    json_path = out_dir / f"{stamp}.json"
    json_path.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    png_path: Path | None = out_dir / f"{stamp}.png"
    try:
        from bench.plot import plot_report

        plot_report(report, png_path)  # type: ignore[arg-type]
    except ImportError:
        png_path = None  # matplotlib is in the bench extra; the numbers still stand without it
    return json_path, png_path
