"""The load generator: virtual users holding multi-turn SSE conversations, and a capacity probe.

Closed loop (`run_users`): N users, ramped up evenly, each sends a turn, reads the SSE stream to
its end, thinks for a while and sends the next turn; a finished conversation is followed by a
new one on a new thread. Open loop (`run_capacity`): single-turn conversations arriving at a
fixed rate that steps up until the target stops keeping up.

The generator shares a 2-core machine with the servers it measures, so it is frugal: one
aiohttp session, SSE read by chunk and scanned with `bytes.find` (no per-token objects beyond
the chunk aiohttp hands us), and JSON parsed only for the final `done`/`error` event.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import resource
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.conversations import pick_conversation
from bench.stats import TurnResult, percentile, summarize, timeline

_TOKEN = b"event: token"
_ROUTE = b"event: route"
_DONE = b"event: done"
_ERROR = b"event: error"
# Longest marker minus one: enough overlap to find a marker split across two chunks.
_CARRY = max(len(_TOKEN), len(_ROUTE), len(_DONE), len(_ERROR)) - 1
_HEADERS = {"content-type": "application/json", "accept": "text/event-stream"}


def raise_nofile_limit() -> int:
    """Raise the soft open-files limit to the hard limit (hundreds of sockets); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def new_session() -> aiohttp.ClientSession:
    """One session for the whole run: unlimited connections, keep-alive between turns."""
    connector = aiohttp.TCPConnector(
        limit=0,
        # Below uvicorn's 5 s default keep-alive: reusing a socket the server is closing right
        # then fails the request with ServerDisconnectedError, an artefact of the client.
        keepalive_timeout=4.0,
        ttl_dns_cache=None,
    )
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None))


def _final_event(tail: bytes) -> tuple[str, dict[str, Any]]:
    """Parse the last `done`/`error` event of a stream (the bytes from its `event:` line on)."""
    kind = "done" if tail.startswith(_DONE) else "error"
    data: list[str] = []
    for line in tail.decode("utf-8", "replace").splitlines():
        if line.startswith("data:"):
            data.append(line[5:].lstrip())
        elif not line.strip() and data:
            break
    try:
        payload = json.loads("\n".join(data)) if data else {}
    except ValueError:
        payload = {}
    return kind, payload if isinstance(payload, dict) else {}


async def chat_turn(
    session: aiohttp.ClientSession,
    url: str,
    body: dict[str, Any],
    t0: float,
    sink: list[TurnResult],
    timeout_s: float = 30.0,
) -> TurnResult:
    """Send one turn, read its SSE stream to the end and append the outcome to `sink`.

    Appends before re-raising a cancellation too, so a turn still running when the run gives up
    on it counts as a `timeout` rather than disappearing.
    """
    start = time.perf_counter()
    route_at: float | None = None
    token_at: float | None = None
    final: bytearray | None = None
    error: str | None = None
    detail: str | None = None
    agent: str | None = None

    def result(err: str | None) -> TurnResult:
        end = time.perf_counter()
        return TurnResult(
            started=start - t0,
            ended=end - t0,
            latency_ms=(end - start) * 1000,
            ttft_ms=None if token_at is None else (token_at - start) * 1000,
            route_ms=None if route_at is None else (route_at - start) * 1000,
            error=err,
            agent=agent,
            detail=detail if err else None,
        )

    try:
        async with asyncio.timeout(timeout_s):
            async with session.post(url, data=json.dumps(body).encode(), headers=_HEADERS) as resp:
                if resp.status != 200:
                    detail = (await resp.read())[:200].decode("utf-8", "replace")
                    error = f"http_{resp.status}"
                else:
                    carry = b""
                    async for chunk in resp.content.iter_any():
                        if final is not None:
                            final += chunk
                            continue
                        data = carry + chunk
                        if route_at is None and _ROUTE in data:
                            route_at = time.perf_counter()
                        if token_at is None and _TOKEN in data:
                            token_at = time.perf_counter()
                        at = max(data.find(_DONE), data.find(_ERROR))
                        if at >= 0:
                            final = bytearray(data[at:])
                        carry = data[-_CARRY:]
                    if final is None:
                        error, detail = "no_done", "stream ended without a done or error event"
                    else:
                        kind, payload = _final_event(bytes(final))
                        if kind == "error":
                            error = f"error_event:{payload.get('code', 'unknown')}"
                            detail = str(payload.get("message", ""))[:200]
                        agent = payload.get("agent")
    except asyncio.CancelledError:
        detail = "still running when the run's grace period ended"
        sink.append(result("timeout"))
        raise
    except TimeoutError:
        error, detail = "timeout", f"no end of stream within {timeout_s:g} s"
    except (aiohttp.ClientError, OSError) as exc:
        error, detail = "connection", f"{type(exc).__name__}: {exc}"[:200]
    outcome = result(error)
    sink.append(outcome)
    return outcome


def _body(message: str, thread_id: str, user_id: str) -> dict[str, Any]:
    # The web channel: a person watches the reply stream, so its latency is the one we promise.
    # WhatsApp waits `debounce_ms` (1.5 s by default) on purpose to merge bursts of messages;
    # that wait is a product setting, not processing time, and would only shift every number.
    return {"message": message, "thread_id": thread_id, "user_id": user_id, "channel": "web"}


def parse_think(text: str) -> tuple[float, float]:
    """`"10-30"` → (10.0, 30.0); `"5"` → (5.0, 5.0)."""
    low, _, high = text.partition("-")
    lo, hi = float(low), float(high or low)
    if lo < 0 or hi < lo:
        raise ValueError(f"think time must be MIN-MAX with 0 <= MIN <= MAX, got {text!r}")
    return lo, hi


@dataclass
class UsersConfig:
    """Closed-loop run: `users` virtual users for `duration_s` seconds."""

    url: str
    users: int
    duration_s: float
    think_s: tuple[float, float] = (10.0, 30.0)
    seed: int = 1
    ramp_s: float = 30.0
    grace_s: float = 30.0
    timeout_s: float = 30.0
    window_s: float = 5.0


@dataclass
class RunOutcome:
    """What a run produced: the turns, the report fields and the time series for the plot."""

    results: list[TurnResult]
    summary: dict[str, Any]
    series: list[dict[str, Any]] = field(default_factory=list)


async def run_users(cfg: UsersConfig, session: aiohttp.ClientSession | None = None) -> RunOutcome:
    """Run the closed-loop load and summarize it."""
    own_session = session is None
    session = session or new_session()
    results: list[TurnResult] = []
    active: list[tuple[float, int]] = []
    running = 0
    run_id = uuid.uuid4().hex[:8]
    t0 = time.perf_counter()
    end = t0 + cfg.duration_s
    ramp = min(cfg.ramp_s, cfg.duration_s)
    cpu0 = time.process_time()

    async def user(index: int) -> None:
        nonlocal running
        rng = random.Random(cfg.seed * 1_000_003 + index)
        await asyncio.sleep(index * ramp / max(1, cfg.users))
        running += 1
        try:
            conversation_no = 0
            while time.perf_counter() < end:
                conversation_no += 1
                _, turns = pick_conversation(rng)
                thread_id = f"bench-{run_id}-u{index}-c{conversation_no}"
                for message in turns:
                    if time.perf_counter() >= end:
                        return
                    body = _body(message, thread_id, f"bench-user-{index}")
                    await chat_turn(session, cfg.url, body, t0, results, cfg.timeout_s)
                    remaining = end - time.perf_counter()
                    if remaining <= 0:
                        return
                    await asyncio.sleep(min(rng.uniform(*cfg.think_s), remaining))
        finally:
            running -= 1

    async def watch() -> None:
        while True:
            active.append((time.perf_counter() - t0, running))
            await asyncio.sleep(1.0)

    watcher = asyncio.create_task(watch())
    tasks = [asyncio.create_task(user(i)) for i in range(cfg.users)]
    try:
        await asyncio.sleep(max(0.0, end - time.perf_counter()))
        # Stop starting turns at the deadline; give in-flight turns a bounded grace period.
        _, pending = await asyncio.wait(tasks, timeout=cfg.grace_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        watcher.cancel()
        if own_session:
            await session.close()
    wall = time.perf_counter() - t0
    # Until the last turn finished (or was given up on): a target that queues work and answers
    # it during the grace period must not look faster than it was.
    summary = summarize(results, wall)
    summary.update(
        users=cfg.users,
        duration_s=cfg.duration_s,
        think_s=list(cfg.think_s),
        loadgen_cpu_pct=round(100 * (time.process_time() - cpu0) / wall, 1),
    )
    return RunOutcome(results, summary, timeline(results, cfg.window_s, active))


@dataclass
class CapacityConfig:
    """Open-loop step load: `start_rps`, ×`factor` every `step_s`, until it is not sustained."""

    url: str
    start_rps: float = 5.0
    factor: float = 1.3
    step_s: float = 10.0
    max_rps: float = 400.0
    p95_limit_ms: float = 3000.0
    min_achieved: float = 0.95
    timeout_s: float = 30.0
    seed: int = 1


async def run_capacity(
    cfg: CapacityConfig,
    session: aiohttp.ClientSession | None = None,
    on_step: Callable[[dict[str, Any]], None] | None = None,
) -> RunOutcome:
    """Step the arrival rate up until a step is not sustained; `capacity_rps` = last one that was.

    Sustained = p95 ≤ `p95_limit_ms`, no errors, and successful replies ≥ `min_achieved` of the
    offered rate (a generator that cannot keep its own schedule counts against the step: it
    shares the machine, and the report should not claim a rate nobody delivered).
    """
    own_session = session is None
    session = session or new_session()
    rng = random.Random(cfg.seed)
    results: list[TurnResult] = []
    steps: list[dict[str, Any]] = []
    capacity = 0.0
    run_id = uuid.uuid4().hex[:8]
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    rate = cfg.start_rps
    try:
        while True:
            step_results: list[TurnResult] = []
            count = max(1, round(rate * cfg.step_s))
            tasks = []
            step_start = time.perf_counter()
            for i in range(count):
                delay = step_start + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                _, turns = pick_conversation(rng)
                body = _body(turns[0], f"cap-{run_id}-{len(steps)}-{i}", f"cap-user-{i}")
                tasks.append(
                    asyncio.create_task(
                        chat_turn(session, cfg.url, body, t0, step_results, cfg.timeout_s)
                    )
                )
            span = max(cfg.step_s, time.perf_counter() - step_start)
            # Each turn is bounded by its own timeout, so this wait is too.
            await asyncio.gather(*tasks, return_exceptions=True)
            results.extend(step_results)
            ok = [r.latency_ms for r in step_results if r.ok]
            errors = len(step_results) - len(ok)
            p95 = percentile(ok, 95)
            achieved = len(ok) / span
            sustained = (
                errors == 0
                and p95 is not None
                and p95 <= cfg.p95_limit_ms
                and achieved >= cfg.min_achieved * rate
            )
            step = {
                "offered_rps": round(rate, 2),
                "achieved_rps": round(achieved, 2),
                "requests": len(step_results),
                "errors": errors,
                "p50_ms": None if not ok else round(percentile(ok, 50) or 0, 1),
                "p95_ms": None if p95 is None else round(p95, 1),
                "sustained": sustained,
            }
            steps.append(step)
            if on_step is not None:
                on_step(step)
            if not sustained:
                break
            capacity = rate
            if rate >= cfg.max_rps:
                break
            rate = min(rate * cfg.factor, cfg.max_rps)
    finally:
        if own_session:
            await session.close()
    wall = time.perf_counter() - t0
    summary = summarize(results, wall)
    summary.update(
        users=0,
        capacity_rps=round(capacity, 2),
        steps=steps,
        loadgen_cpu_pct=round(100 * (time.process_time() - cpu0) / wall, 1),
    )
    return RunOutcome(results, summary, steps)


async def warm_up(url: str, turns: int = 3, timeout_s: float = 60.0) -> list[TurnResult]:
    """A few unmeasured turns so first-request costs (imports, pools, caches) are paid up front."""
    sink: list[TurnResult] = []
    async with new_session() as session:
        t0 = time.perf_counter()
        for i in range(turns):
            body = _body("bom dia, tudo certo?", f"warmup-{uuid.uuid4().hex[:8]}", f"warm-{i}")
            with contextlib.suppress(Exception):
                await chat_turn(session, url, body, t0, sink, timeout_s)
    return sink
