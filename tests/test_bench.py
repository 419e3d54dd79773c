"""The load benchmark: its conversations and helpers, and one short end-to-end run."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest
from conftest import REPO_ROOT, require_service

from bench.conversations import CONVERSATIONS, personalize, pick_conversation
from bench.loadgen import _final_event, parse_think
from bench.stats import TurnResult, percentile, summarize


def test_conversations_cover_every_agent_with_multi_turn_scripts() -> None:
    assert len({c.turns for c in CONVERSATIONS}) == len(CONVERSATIONS) >= 40
    assert set(Counter(c.agent for c in CONVERSATIONS)) == {"leo", "max", "lia"}
    assert all(3 <= len(c.turns) <= 6 for c in CONVERSATIONS)


def test_users_get_the_same_conversation_per_seed_but_varied_amounts() -> None:
    first = [pick_conversation(random.Random(7))[1] for _ in range(2)]
    assert first[0] == first[1]
    opening = CONVERSATIONS[0]  # "Registre receita de R$ 1.500 da venda de hoje", …
    variants = {personalize(opening, random.Random(seed))[0] for seed in range(20)}
    assert len(variants) > 5
    assert all(v.startswith("Registre receita de R$ ") for v in variants)


def test_think_time_and_percentiles() -> None:
    assert parse_think("5-15") == (5.0, 15.0)
    assert parse_think("2") == (2.0, 2.0)
    with pytest.raises(ValueError):
        parse_think("9-3")
    assert percentile([], 95) is None
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 50) == 3.0


def test_summary_counts_errors_by_kind_and_ignores_them_in_latency() -> None:
    results = [
        TurnResult(0, 1, 1000, ttft_ms=300, route_ms=20, agent="leo"),
        TurnResult(0, 1, 1200, ttft_ms=310, agent="max"),
        TurnResult(0, 30, 30000, error="timeout"),
        TurnResult(0, 1, 5, error="error_event:provider_error"),
    ]
    summary = summarize(results, wall_s=10)
    assert summary["requests"] == 4 and summary["errors"] == 2
    assert summary["errors_by_kind"] == {"timeout": 1, "error_event:provider_error": 1}
    assert summary["p99_ms"] <= 1200
    assert summary["route_p95_ms"] == 20
    assert summary["agents"] == {"leo": 1, "max": 1}


def test_final_event_parsing() -> None:
    done = b'event: done\r\ndata: {"agent": "lia", "latency_ms": 5}\r\n\r\n'
    assert _final_event(done) == ("done", {"agent": "lia", "latency_ms": 5})
    error = b'event: error\ndata: {"code": "provider_timeout"}\n\n'
    assert _final_event(error)[1]["code"] == "provider_timeout"


@pytest.mark.postgres
def test_bench_end_to_end_squad_and_floor(tmp_path: Path) -> None:
    """`python -m bench` against the real squad (Postgres) and the floor, on the stub LLM."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    command = [
        sys.executable, "-m", "bench", "--users", "30", "--duration", "15", "--think", "1-3",
        "--target", "squad", "--target", "floor", "--json", "--out", str(tmp_path),
        # Its own database, so a benchmark someone runs meanwhile is not disturbed.
        "--db-name", f"esquadra_bench_test_{uuid.uuid4().hex[:8]}",
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=170, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert set(report["targets"]) == {"squad", "floor"}
    for name, target in report["targets"].items():
        assert target["requests"] > 0, name
        assert target["errors"] == 0, (name, target["errors_by_kind"])
        assert target["p95_ms"] > 0, name
        assert target["ttft_p50_ms"] > 0, name
        assert target["cpu_ms_per_reply"] > 0, name
        assert target["peak_rss_mb"] > 0, name
        assert target["users"] == 30 and target["workers"] == 1
    squad = report["targets"]["squad"]
    assert squad["agents"] and set(squad["agents"]) <= {"leo", "max", "lia"}
    assert sum(squad["agents"].values()) == squad["ok"]
    assert squad["route_p95_ms"] > 0
    assert "route_p95_ms" not in report["targets"]["floor"]
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".json", ".png"]
    # The machine's speed travels with the numbers, so runs on other machines can be compared.
    assert report["config"]["reference_loop_ms"] > 0
    steal = report["config"]["cpu_steal_pct"]
    assert steal is None or 0 <= steal <= 100


def test_the_table_names_the_machine_speed_when_the_report_has_it() -> None:
    from bench.report import format_table

    config = {"mode": "capacity", "think_s": [10, 30], "pinned": False, "cpus": 2}
    config["load_avg_at_start"] = [0.5, 0.5, 0.5]
    old = format_table({"targets": {}, "config": dict(config)})
    assert "reference loop" not in old  # reports from before the field still render
    config |= {"reference_loop_ms": 102.7, "cpu_steal_pct": 2.5}
    assert "reference loop 102.7 ms, CPU stolen by other guests 2.5 %" in format_table(
        {"targets": {}, "config": config}
    )
