"""`esquadra bench`: the load benchmark's command line (`add_bench_parser`, `run_bench`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bench.targets import TARGETS

USAGE_EXAMPLE = (
    "esquadra bench --users 200 --duration 60 --think 5-15\n"
    "esquadra bench --capacity --target squad --target floor"
)


def _think(text: str) -> tuple[float, float]:
    from bench.loadgen import parse_think

    try:
        return parse_think(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _name_url(text: str) -> tuple[str, str]:
    name, sep, url = text.partition("=")
    if not sep or name not in TARGETS or not url.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(
            f"expected NAME=URL with NAME in {', '.join(TARGETS)}, got {text!r}"
        )
    return name, url


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the bench options to `parser` (shared by `esquadra bench` and `python -m bench`)."""
    parser.add_argument("--users", type=_positive_int, default=200, help="virtual users")
    parser.add_argument(
        "--duration", type=_positive_float, default=60.0, help="seconds of load (users mode)"
    )
    parser.add_argument(
        "--think", type=_think, default=(10.0, 30.0), metavar="MIN-MAX",
        help="seconds a user waits between turns, uniform (default 10-30)",
    )  # fmt: skip
    parser.add_argument(
        "--target", action="append", choices=TARGETS, dest="targets",
        help="target to measure, repeatable (default: all three, in order)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the JSON report, no table")
    parser.add_argument(
        "--workers", type=_positive_int, default=1, help="uvicorn workers per target server"
    )
    parser.add_argument(
        "--capacity", action="store_true",
        help="open-loop step load instead of users: highest rate with p95 <= 3 s and no errors",
    )  # fmt: skip
    parser.add_argument("--llm-url", help="use this running stub LLM (…/v1) instead of one")
    parser.add_argument(
        "--target-url", action="append", type=_name_url, default=[], metavar="NAME=URL",
        help="measure an already running target instead of starting it",
    )  # fmt: skip
    parser.add_argument(
        "--pin", action="store_true",
        help="taskset: servers on CPU 0, load generator and stub on CPU 1",
    )  # fmt: skip
    parser.add_argument(
        "--out", type=Path, default=None, help="results directory (default bench/results)"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the users' choices")
    parser.add_argument(
        "--db-name", default="esquadra_bench", help="Postgres database created for the squad"
    )
    parser.set_defaults(run=run_bench)
    return parser


def add_bench_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `bench` on the `esquadra` subcommands; its `run` default is `run_bench`."""
    parser = subparsers.add_parser(
        "bench",
        help="load benchmark: Esquadra vs a bare relay (floor) vs agent-squad",
        description="Load benchmark against a local stub LLM. Examples:\n" + USAGE_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return configure_parser(parser)


def run_bench(args: argparse.Namespace) -> int:
    """Run the benchmark described by `args`; 0 when every target answered without errors."""
    from bench.report import format_table, write_results
    from bench.runner import BenchConfig, default_out_dir, run

    cfg = BenchConfig(
        targets=list(dict.fromkeys(args.targets or TARGETS)),
        users=args.users,
        duration_s=args.duration,
        think_s=args.think,
        workers=args.workers,
        capacity=args.capacity,
        llm_url=args.llm_url,
        target_urls=dict(args.target_url),
        pin=args.pin,
        db_name=args.db_name,
        seed=args.seed,
        quiet=args.json,
    )
    try:
        report = run(cfg)
    except (RuntimeError, TimeoutError, OSError) as exc:
        print(f"esquadra bench: {exc}", file=sys.stderr)
        return 1
    json_path, png_path = write_results(report, args.out or default_out_dir())
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(format_table(report))
        print(f"\nwrote {json_path}" + (f" and {png_path}" if png_path else ""))
    # Errors under load are a finding, not a failure of the command.
    return 0
