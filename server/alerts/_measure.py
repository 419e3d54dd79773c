"""What each kind of rule measures, and how an alert says it in Portuguese.

A reading is a Decimal in the rule's unit (seconds, a fraction of the turns, reais, trace
runs) or None when the window holds fewer turns than the rule's `min_turns` (not judged: an
open alert resolves, none opens).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from checkpointing.sql import Database
from checkpointing.turn_stats import daily_cost_brl, window_stats
from core.trace_health import export_problems
from graphs.schema import AlertRule
from nodes.money import format_brl

_FRACTION = Decimal("0.0001")
_SECONDS = Decimal("0.001")


@dataclass(frozen=True)
class Reading:
    value: Decimal | None  # None: too few turns to judge
    turns: int


class TraceLosses:
    """Trace runs this process dropped or failed to send within a window, from the running
    totals of `core.trace_health` sampled every round (per process: the evaluator's own)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._samples: deque[tuple[float, int]] = deque()
        self.sample()

    def sample(self) -> None:
        counts = export_problems()
        self._samples.append((self._clock(), counts.get("dropped", 0) + counts.get("failed", 0)))

    def lost_within(self, window_s: float) -> int:
        now, total = self._samples[-1]
        # Keep one sample at or before the window's start as the baseline; drop older ones.
        while len(self._samples) > 1 and self._samples[1][0] <= now - window_s:
            self._samples.popleft()
        return total - self._samples[0][1]


async def measure(
    rule: AlertRule,
    db: Database,
    now: datetime,
    day_start: datetime,
    traces: TraceLosses,
) -> Reading:
    """The rule's current value."""
    if rule.kind == "daily_cost":
        return Reading(await daily_cost_brl(db, day_start, rule.agent), 0)
    if rule.kind == "trace_export":
        return Reading(Decimal(traces.lost_within(rule.window_s)), 0)
    stats = await window_stats(db, now - timedelta(seconds=rule.window_s), rule.agent)
    if stats.turns < rule.min_turns:
        return Reading(None, stats.turns)
    if rule.kind == "latency_p95":
        ms = stats.p95_latency_ms or 0
        value = (Decimal(ms) / 1000).quantize(_SECONDS)
    elif rule.kind == "error_rate":
        value = (Decimal(stats.errors) / stats.turns).quantize(_FRACTION)
    else:  # fallback_share: of the turns that reached an agent
        routed = stats.routed
        if routed < rule.min_turns:
            return Reading(None, routed)
        value = (Decimal(stats.fallback) / routed).quantize(_FRACTION)
    return Reading(value, stats.turns)


def describe(rule: AlertRule, value: Decimal, fallback_agent: str) -> str:
    """The alert in one Portuguese sentence, with its value and its limit."""
    window = _window(rule.window_s)
    scope = f" do agente {rule.agent}" if rule.agent else ""
    if rule.kind == "latency_p95":
        return (
            f"Latência p95{scope} de {_decimal(value, 1 if value >= 1 else 2)} s {window} "
            f"(limite: {_exact(rule.threshold)} s)."
        )
    if rule.kind == "error_rate":
        return (
            f"Taxa de erro{scope} de {_percent(value)} {window} "
            f"(limite: {_percent(rule.threshold)})."
        )
    if rule.kind == "daily_cost":
        return (
            f"Custo de hoje{scope} em {format_brl(value)}, acima do orçamento de "
            f"{format_brl(rule.threshold)}."
        )
    if rule.kind == "fallback_share":
        return (
            f"{_percent(value)} das mensagens{scope} foram para o agente reserva "
            f"({fallback_agent}) por falta de certeza no roteamento {window} "
            f"(limite: {_percent(rule.threshold)})."
        )
    return (
        f"{int(value)} registros de rastreamento (traces) não foram enviados {window} "
        f"(limite: {int(rule.threshold)})."
    )


def _decimal(value: Decimal, places: int) -> str:
    return f"{value:.{places}f}".replace(".", ",")


def _exact(value: Decimal) -> str:
    """As written in the YAML, without trailing zeros: 3 → "3", 0.40 → "0,4"."""
    text = f"{value.normalize():f}"
    return text.replace(".", ",")


def _percent(fraction: Decimal) -> str:
    return f"{_decimal(fraction * 100, 1)} %"


def _window(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        hours = int(seconds // 3600)
        return "na última hora" if hours == 1 else f"nas últimas {hours} horas"
    if seconds >= 60 and seconds % 60 == 0:
        minutes = int(seconds // 60)
        return "no último minuto" if minutes == 1 else f"nos últimos {minutes} min"
    return f"nos últimos {seconds:g} s".replace(".", ",")
