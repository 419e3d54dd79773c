"""Runs the benchmark: the stub, then each target in turn, under load, with its CPU and memory.

Targets run one after another, never side by side, so each one has the machine (minus the load
generator and the stub) to itself.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from bench.loadgen import (
    CapacityConfig,
    RunOutcome,
    UsersConfig,
    raise_nofile_limit,
    run_capacity,
    run_users,
    warm_up,
)
from bench.procstats import (
    TreeSampler,
    listening_pids,
    postgres_pids,
    redis_pids,
    reference_loop_ms,
    steal_ticks,
)
from bench.targets import (
    STUB_ARGS,
    TARGETS,
    BenchDatabase,
    ServerProcess,
    bench_redis,
    can_pin,
    drop_redis_prefix,
    stub_process,
    target_process,
)

# With --pin: the servers get CPU 0, the load generator and the stub CPU 1.
SERVER_CPU, LOAD_CPU = 0, 1


@dataclass
class BenchConfig:
    """Everything `esquadra bench` was asked to do."""

    targets: list[str] = field(default_factory=lambda: list(TARGETS))
    users: int = 200
    duration_s: float = 60.0
    think_s: tuple[float, float] = (10.0, 30.0)
    workers: int = 1
    capacity: bool = False
    llm_url: str | None = None
    target_urls: dict[str, str] = field(default_factory=dict)
    pin: bool = False
    db_name: str = "esquadra_bench"
    # The squad runs as deployed: sessions, turn locks and the memory stream in Redis.
    redis_url: str | None = field(
        default_factory=lambda: os.environ.get("ESQUADRA_BENCH_REDIS", "redis://127.0.0.1:6379/0")
    )
    seed: int = 1
    quiet: bool = False


def _log(cfg: BenchConfig, message: str) -> None:
    if not cfg.quiet:
        print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _per_reply_ms(cpu_s: float, replies: int) -> float | None:
    return round(cpu_s * 1000 / replies, 2) if replies else None


async def _measure(
    cfg: BenchConfig, name: str, url: str, pids: list[int], stub_pids: list[int]
) -> RunOutcome:
    """Warm the target up, then run the load while sampling the processes involved."""
    chat_url = f"{url}/v1/chat"
    warm = await warm_up(chat_url)
    if not any(r.ok for r in warm):
        kinds = sorted({r.error or "?" for r in warm})
        raise RuntimeError(f"{name}: warm-up turns failed ({', '.join(kinds)})")
    server = TreeSampler(pids)
    stub = TreeSampler(stub_pids)
    # Checkpoints live in Postgres and sessions in Redis: their CPU is part of what a reply costs.
    database = TreeSampler(postgres_pids() + redis_pids() if name == "squad" else [])
    for sampler in (server, stub, database):
        sampler.start()
    try:
        if cfg.capacity:
            outcome = await run_capacity(
                CapacityConfig(chat_url, seed=cfg.seed),
                on_step=lambda s: _log(cfg, f"{name}: capacity step {s}"),
            )
        else:
            outcome = await run_users(
                UsersConfig(chat_url, cfg.users, cfg.duration_s, cfg.think_s, seed=cfg.seed)
            )
    finally:
        for sampler in (server, stub, database):
            await sampler.stop()
    replies = outcome.summary["ok"]
    outcome.summary.update(
        cpu_ms_per_reply=_per_reply_ms(server.cpu_s, replies) if pids else None,
        server_cpu_s=round(server.cpu_s, 2) if pids else None,
        peak_rss_mb=round(server.peak_rss / 2**20, 1) if pids else None,
        stub_cpu_ms_per_reply=_per_reply_ms(stub.cpu_s, replies) if stub_pids else None,
    )
    if name == "squad" and database.pids:
        outcome.summary["db_cpu_ms_per_reply"] = _per_reply_ms(database.cpu_s, replies)
    return outcome


def _run_target(
    cfg: BenchConfig, name: str, llm_url: str, stub_pids: list[int], pinned: bool
) -> dict[str, Any]:
    given = cfg.target_urls.get(name)
    proc: ServerProcess | None = None
    database: BenchDatabase | None = None
    redis_url: str | None = None
    redis_prefix = f"esquadra-bench-{os.getpid()}:"
    try:
        if given:
            url = given.rstrip("/")
            port = urlparse(url).port
            pids = listening_pids(port) if port else []
            workers: int | None = None
        else:
            database_url = None
            if name == "squad":
                database = BenchDatabase(cfg.db_name)
                database_url = database.create()
                redis_url = bench_redis(cfg.redis_url)
                if redis_url is None:
                    _log(cfg, f"squad: no Redis at {cfg.redis_url}; sessions stay in-process")
            proc = target_process(
                name,
                llm_url,
                workers=cfg.workers,
                database_url=database_url,
                redis_url=redis_url if name == "squad" else None,
                redis_prefix=redis_prefix,
                cpu=SERVER_CPU if pinned else None,
            )
            _log(cfg, f"{name}: starting ({' '.join(proc.argv[:3])} …)")
            proc.start()
            url, pids, workers = proc.url, [proc.pid] if proc.pid else [], cfg.workers
        mode = "capacity" if cfg.capacity else f"{cfg.users} users for {cfg.duration_s:.0f}s"
        _log(cfg, f"{name}: ready on {url}; load: {mode}")
        outcome = asyncio.run(_measure(cfg, name, url, pids, stub_pids))
        summary = {"url": url, "workers": workers, "pinned": pinned, **outcome.summary}
        if name == "squad" and not given:
            summary["redis"] = redis_url is not None
        if proc is not None and proc.proc is not None and proc.proc.poll() is not None:
            # A server that died mid-run explains a wall of `connection` errors: say so.
            summary["server_exit_code"] = proc.proc.returncode
            _log(cfg, f"{name}: server exited with {proc.proc.returncode}:\n{proc.log_tail()}")
        summary["series"] = outcome.series
        _log(
            cfg,
            f"{name}: {summary['ok']}/{summary['requests']} ok, p95 {summary['p95_ms']} ms, "
            f"cpu/reply {summary['cpu_ms_per_reply']} ms",
        )
        return summary
    finally:
        if proc is not None:
            proc.stop()
        if database is not None:
            database.drop()
        if redis_url is not None:
            drop_redis_prefix(redis_url, redis_prefix)


def run(cfg: BenchConfig) -> dict[str, Any]:
    """Run every target in `cfg` and return the report (`{"targets": …, "config": …}`)."""
    nofile = raise_nofile_limit()
    pinned = cfg.pin and can_pin()
    if pinned:
        # The load generator is this process: keep it off the servers' CPU.
        os.sched_setaffinity(0, {LOAD_CPU})
    stub: ServerProcess | None = None
    started = datetime.now(UTC)
    # Other work on this shared machine skews the numbers: record how busy it was.
    load_avg = [round(x, 2) for x in os.getloadavg()]
    loop_ms, steal0, wall0 = reference_loop_ms(), steal_ticks(), time.monotonic()
    try:
        if cfg.llm_url:
            llm_url = cfg.llm_url.rstrip("/")
            llm_url = llm_url if llm_url.endswith("/v1") else f"{llm_url}/v1"
            port = urlparse(llm_url).port
            stub_pids = listening_pids(port) if port else []
        else:
            stub = stub_process(cpu=LOAD_CPU if pinned else None).start()
            llm_url, stub_pids = f"{stub.url}/v1", [stub.pid] if stub.pid else []
        _log(cfg, f"stub LLM at {llm_url}")
        targets = {name: _run_target(cfg, name, llm_url, stub_pids, pinned) for name in cfg.targets}
    finally:
        if stub is not None:
            stub.stop()
    config = {
        "mode": "capacity" if cfg.capacity else "users",
        "users": cfg.users,
        "duration_s": cfg.duration_s,
        "think_s": list(cfg.think_s),
        "workers": cfg.workers,
        "targets": cfg.targets,
        "pinned": pinned,
        "pin_requested": cfg.pin,
        "llm": {"url": llm_url, "stub_args": " ".join(STUB_ARGS) if stub else None},
        "cpus": os.cpu_count(),
        "load_avg_at_start": load_avg,
        "load_avg_at_end": [round(x, 2) for x in os.getloadavg()],
        "reference_loop_ms": loop_ms,
        "cpu_steal_pct": _steal_pct(steal0, wall0),
        "nofile_limit": nofile,
        "seed": cfg.seed,
        "started_at": started.isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
    }
    return {"targets": targets, "config": config}


def _steal_pct(steal0: int | None, wall0: float) -> float | None:
    """Share of the machine's CPU time taken by other guests since `wall0` (all CPUs)."""
    steal1 = steal_ticks()
    if steal0 is None or steal1 is None:
        return None
    ticks = os.sysconf("SC_CLK_TCK") * (time.monotonic() - wall0) * (os.cpu_count() or 1)
    return round(100 * (steal1 - steal0) / ticks, 1) if ticks > 0 else None


def default_out_dir() -> Path:
    """`bench/results/` (git-ignored)."""
    return Path(__file__).resolve().parent / "results"
