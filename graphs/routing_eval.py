"""Routing evaluation: accuracy, per-agent precision/recall, confusion, layer shares, latency."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from graphs.routing import LabelledMessage
from nodes.routing import Router


async def evaluate(router: Router, rows: Sequence[LabelledMessage]) -> dict[str, Any]:
    """Route every row, one at a time as production does, and summarise."""
    items = []
    for row in rows:
        started = time.perf_counter()
        decision = await router.route(row.text, row.history)
        elapsed = (time.perf_counter() - started) * 1000
        items.append(
            {
                "text": row.text,
                "expected": row.agent,
                "predicted": decision["agent"],
                "layer": decision["layer"],
                "confidence": decision["confidence"],
                "ms": round(elapsed, 3),
            }
        )
    report = summarise(items, sorted({*router.agents, *(r.agent for r in rows)}))
    report["categories"] = categories(items, rows)
    return report


def categories(items: list[dict[str, Any]], rows: Sequence[LabelledMessage]) -> dict[str, Any]:
    """Accuracy per kind of message: follow-ups (a line with history) and each tag."""
    groups: dict[str, list[bool]] = defaultdict(list)
    for item, row in zip(items, rows, strict=True):
        right = item["predicted"] == item["expected"]
        kinds = [*row.tags, "followup" if row.history else "standalone"]
        for kind in dict.fromkeys(kinds):
            groups[kind].append(right)
    return {
        kind: {"n": len(hits), "accuracy": round(sum(hits) / len(hits), 4)}
        for kind, hits in sorted(groups.items())
    }


def summarise(items: list[dict[str, Any]], agents: list[str]) -> dict[str, Any]:
    n = len(items)
    correct = sum(1 for i in items if i["predicted"] == i["expected"])
    confusion = {a: {b: 0 for b in agents} for a in agents}
    for item in items:
        confusion[item["expected"]][item["predicted"]] += 1
    per_agent = {}
    for agent in agents:
        tp = confusion[agent][agent]
        predicted = sum(confusion[a][agent] for a in agents)
        actual = sum(confusion[agent].values())
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_agent[agent] = {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "support": actual,
        }
    by_layer: dict[str, list[bool]] = defaultdict(list)
    for item in items:
        by_layer[item["layer"]].append(item["predicted"] == item["expected"])
    layers = {
        layer: {
            "share": round(len(hits) / n, 4),
            "n": len(hits),
            "accuracy": round(sum(hits) / len(hits), 4),
        }
        for layer, hits in sorted(by_layer.items(), key=lambda kv: -len(kv[1]))
    }
    latencies = sorted(i["ms"] for i in items)
    return {
        "n": n,
        "accuracy": round(correct / n, 4) if n else 0.0,
        "per_agent": per_agent,
        "confusion": confusion,
        "layers": layers,
        "p50_ms": _percentile(latencies, 50),
        "p95_ms": _percentile(latencies, 95),
        "items": items,
    }


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return round(sorted_values[index], 3)


def format_report(report: dict[str, Any]) -> str:
    """A terminal table of the summary."""
    agents = list(report["per_agent"])
    lines = [
        f"messages: {report['n']}   accuracy: {report['accuracy']:.1%}   "
        f"p50: {report['p50_ms']:.1f} ms   p95: {report['p95_ms']:.1f} ms",
        "",
        "agent      precision  recall   f1     support",
    ]
    for agent, m in report["per_agent"].items():
        lines.append(
            f"{agent:<10} {m['precision']:>9.1%} {m['recall']:>7.1%} {m['f1']:>6.1%} "
            f"{m['support']:>8}"
        )
    lines += [
        "",
        "confusion (rows: expected, columns: predicted)",
        " " * 10 + "".join(f"{a:>8}" for a in agents),
    ]
    for expected in agents:
        row = report["confusion"][expected]
        lines.append(f"{expected:<10}" + "".join(f"{row[a]:>8}" for a in agents))
    lines += ["", "layer      share    n     accuracy"]
    for layer, m in report["layers"].items():
        lines.append(f"{layer:<10} {m['share']:>6.1%} {m['n']:>5} {m['accuracy']:>9.1%}")
    if report.get("categories"):
        lines += ["", "kind         n     accuracy"]
        for kind, m in report["categories"].items():
            lines.append(f"{kind:<10} {m['n']:>5} {m['accuracy']:>9.1%}")
    mistakes = Counter(
        (i["expected"], i["predicted"]) for i in report["items"] if i["expected"] != i["predicted"]
    )
    if mistakes:
        lines += [
            "",
            "most common mistakes: "
            + ", ".join(f"{e}→{p} ×{n}" for (e, p), n in mistakes.most_common(5)),
        ]
    return "\n".join(lines)
