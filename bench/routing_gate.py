"""Sweep the semantic head's lexical gate: routing accuracy against the share of messages embedded.

    .venv/bin/python -m bench.routing_gate                       # table
    .venv/bin/python -m bench.routing_gate --thresholds 0.6,0.85 --json

For each lexical threshold the whole fit is redone with that gate (per-agent thresholds and the
follow-up model depend on the cascade's probabilities), then the dev and held-out files are
routed one message at a time as `esquadra eval-routing --no-llm` does, counting the messages that
went to the embedding stage. The out-of-fold columns come from the training set only: they are
what the fit may use to choose a gate; dev and held-out are for reporting.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np

import graphs.routing as routing
from graphs.loader import load_spec
from graphs.routing_eval import evaluate
from graphs.routing_fit import CrossValidated, cross_validate, fit_from
from nodes.routing import SemanticLayer

ROOT = Path(__file__).resolve().parent.parent
SETS = {
    "dev": ROOT / "tests" / "data" / "routing_dev.jsonl",
    "holdout": ROOT / "tests" / "data" / "routing_holdout.jsonl",
}
DEFAULT_THRESHOLDS = [0.0, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 1.01]


def out_of_fold(data: CrossValidated, threshold: float) -> dict[str, float]:
    """The cascade on the training set (5-fold): embedded share, accuracy, precision of the
    lexical stage where it decides alone, and `lost`: the share of messages it gets wrong there
    that the full head gets right (what the fit's gate bounds)."""
    agents = np.array(data.agents)
    y = np.array(data.labels)
    kept = data.lexical.max(axis=1) >= threshold
    lexical_right = agents[data.lexical.argmax(axis=1)] == y
    full_right = agents[data.full.argmax(axis=1)] == y
    return {
        "embedded": float(1 - kept.mean()),
        "accuracy": float(np.where(kept, lexical_right, full_right).mean()),
        "kept_precision": float(lexical_right[kept].mean()) if kept.any() else 1.0,
        "lost": float((kept & full_right & ~lexical_right).mean()),
    }


async def measure(loaded: Any, fitted: dict[str, Any], cache_dir: Path) -> dict[str, Any]:
    """Route the dev and held-out files with `fitted` in place of agents.routing.json."""
    with mock.patch.object(routing, "read_fitted", lambda _loaded: fitted):
        router = routing.build_router(loaded, cache_dir=cache_dir, include_llm=False)
    head = next(layer.head for layer in router.layers if isinstance(layer, SemanticLayer))
    results: dict[str, Any] = {}
    for name, path in SETS.items():
        calls = 0
        full = head.full_probabilities

        def counting(*args: Any, _full: Any = full) -> dict[str, float]:
            nonlocal calls
            calls += 1
            return _full(*args)

        head.full_probabilities = counting  # type: ignore[method-assign]
        try:
            report = await evaluate(router, routing.read_routing_data(path))
        finally:
            del head.full_probabilities  # back to the class's method
        results[name] = {"accuracy": report["accuracy"], "embedded": calls / report["n"]}
    return results


def sweep(thresholds: list[float], config: Path, cache_dir: Path) -> dict[str, Any]:
    loaded = load_spec(config)
    data = cross_validate(loaded, cache_dir)
    fitted_gate = fit_from(loaded, data, cache_dir)["semantic"]["lexical_threshold"]
    rows = []
    for threshold in thresholds:
        fitted = fit_from(loaded, data, cache_dir, lexical_threshold=threshold)
        measured = asyncio.run(measure(loaded, fitted, cache_dir))
        rows.append(
            {
                "lexical_threshold": threshold,
                "oof": out_of_fold(data, threshold),
                **measured,
                "fitted": {
                    "thresholds": fitted["semantic"]["thresholds"],
                    "followup_threshold": fitted["followup"].get("threshold"),
                },
            }
        )
        print(_row(rows[-1]), file=sys.stderr, flush=True)
    return {"fitted_lexical_threshold": fitted_gate, "rows": rows}


def _row(row: dict[str, Any]) -> str:
    oof, dev, holdout = row["oof"], row["dev"], row["holdout"]
    return (
        f"| {row['lexical_threshold']:.2f} | {oof['kept_precision']:.1%} | {oof['lost']:.2%} "
        f"| {oof['accuracy']:.1%} "
        f"| {oof['embedded']:.0%} | {dev['accuracy']:.1%} | {dev['embedded']:.0%} "
        f"| {holdout['accuracy']:.1%} | {holdout['embedded']:.0%} |"
    )


def format_table(result: dict[str, Any]) -> str:
    lines = [
        "| lexical threshold | OOF precision kept | OOF lost | OOF accuracy | OOF embedded "
        "| dev | dev embedded | held-out | held-out embedded |",
        "|---|---|---|---|---|---|---|---|---|",
        *(_row(row) for row in result["rows"]),
        "",
        f"the fit's own choice: {result['fitted_lexical_threshold']}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from core.settings import Settings

    parser = argparse.ArgumentParser(prog="python -m bench.routing_gate", description=__doc__)
    parser.add_argument("--config", type=Path, default=ROOT / "agents.yaml")
    parser.add_argument(
        "--thresholds",
        type=lambda text: [float(x) for x in text.split(",")],
        default=DEFAULT_THRESHOLDS,
        help="comma-separated lexical thresholds (1.01: always embed, 0: never)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    args = parser.parse_args(argv)
    result = sweep(args.thresholds, args.config, Settings.from_env().embeddings_cache)
    print(json.dumps(result) if args.json else format_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
