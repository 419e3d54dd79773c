"""The per-turn row (`chat_turns`): written after every turn, off the hot path; read as figures.

A turn hands `TurnLog.record` one small tuple and goes on: the row waits in a bounded
in-memory queue that a background task writes in batches (one multi-row INSERT per batch,
through the SQL seam). A full queue drops the row and counts it (`dropped`); a failed batch is
logged and counted (`failed`); neither ever blocks or fails a turn. `aclose()` writes what is
queued before the stores close.

The same queue carries the cost ledger's rows (`CostRow`, `checkpointing/cost_ledger.py`: one
per model call), written by the same task in the same batches, one INSERT per table.

Money is kept as integer micro-units (`cost_usd_micros`, `cost_brl_micros`): a reply's cost is
quantized to 0.000001, so the integer is exact, and SQL sums it exactly on both dialects.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from checkpointing import cost_ledger
from checkpointing.cost_ledger import CostRow
from checkpointing.sql import Database

log = logging.getLogger("esquadra.turns")

QUEUE_SIZE = 10_000  # rows; ~1.5 MB at most, minutes of traffic if the database stalls
BATCH_SIZE = 200  # rows per INSERT
FLUSH_INTERVAL_S = 0.5  # a lone row waits at most this long before it is written

_MICROS = Decimal(1_000_000)


class TurnRow(NamedTuple):
    """One turn as `chat_turns` keeps it (a tuple: cheap to build on the chat path)."""

    at: datetime
    thread_id: str
    user_id: str | None
    channel: str
    agent_id: str | None  # None: failed before routing
    route_layer: str | None
    model_profile: str | None
    offline: bool
    latency_ms: int
    ttft_ms: int | None
    input_tokens: int
    output_tokens: int
    cost_usd_micros: int
    cost_brl_micros: int
    error_code: str | None  # None: answered


_COLUMNS = ", ".join(TurnRow._fields)
_ROW_PLACEHOLDERS = "(" + ", ".join(["%s"] * len(TurnRow._fields)) + ")"


def to_micros(amount: str | Decimal) -> int:
    """A decimal amount (`"0.001234"`) as integer micro-units (1234)."""
    return int((Decimal(amount) * _MICROS).to_integral_value())


def from_micros(micros: int) -> Decimal:
    """Integer micro-units back as a Decimal with six places."""
    return (Decimal(micros) / _MICROS).quantize(Decimal("0.000001"))


@dataclass(frozen=True)
class AgentFigures:
    """One agent's day: turns, latency percentiles (nearest rank), errors, cost."""

    messages: int
    errors: int
    p50_latency_ms: int | None
    p95_latency_ms: int | None
    cost_usd: Decimal
    cost_brl: Decimal

    @property
    def error_rate(self) -> float:
        return self.errors / self.messages if self.messages else 0.0


class TurnLog:
    """The bounded queue and its writer task; `figures` reads the day back."""

    def __init__(
        self,
        db: Database,
        *,
        queue_size: int = QUEUE_SIZE,
        batch_size: int = BATCH_SIZE,
        flush_interval_s: float = FLUSH_INTERVAL_S,
    ) -> None:
        self.db = db
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self._queue: asyncio.Queue[TurnRow | CostRow] = asyncio.Queue(maxsize=queue_size)
        self._task: asyncio.Task[None] | None = None
        self._pending = asyncio.Event()  # set when a row is queued
        self._closing = False
        # Rows of both tables (turns and model calls) count in these.
        self.dropped = 0  # rows refused because the queue was full
        self.failed = 0  # rows lost in a batch the database refused
        self.written = 0

    @property
    def queued(self) -> int:
        """Rows waiting to be written."""
        return self._queue.qsize()

    def record(self, row: TurnRow | CostRow) -> None:
        """Queue one row (a turn's, or a model call's for the cost ledger); never waits, never
        raises (a full queue drops it and counts it)."""
        try:
            self._queue.put_nowait(row)
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("turn log queue full: %d rows dropped so far", self.dropped)
            return
        self._pending.set()

    def start(self) -> None:
        """Write queued rows in the background until `aclose()`."""
        self._task = asyncio.create_task(self._run(), name="turn-log")

    async def aclose(self, timeout_s: float = 10.0) -> None:
        """Write whatever is still queued, then stop the writer (cut after `timeout_s`)."""
        if self._task is not None:
            self._closing = True
            self._pending.set()
            try:
                await asyncio.wait_for(self._task, timeout_s)
            except TimeoutError:
                log.warning("turn log: %d rows not written at shutdown", self._queue.qsize())
                return
            self._task = None
        await self.flush()

    async def flush(self) -> None:
        """Write everything queued now (before reading this worker's own figures)."""
        while not self._queue.empty():
            await self._write(self._take(self.batch_size))

    async def _run(self) -> None:
        while not self._closing:
            await self._pending.wait()
            # Let a burst gather into one INSERT, but hold no row longer than the interval.
            if self._queue.qsize() < self.batch_size and not self._closing:
                await asyncio.sleep(self.flush_interval_s)
            self._pending.clear()
            await self.flush()

    def _take(self, limit: int) -> list[TurnRow | CostRow]:
        rows = []
        while len(rows) < limit and not self._queue.empty():
            rows.append(self._queue.get_nowait())
        return rows

    async def _write(self, batch: list[TurnRow | CostRow]) -> None:
        turns = [row for row in batch if isinstance(row, TurnRow)]
        costs = [row for row in batch if isinstance(row, CostRow)]
        await self._insert("chat_turns", _COLUMNS, _ROW_PLACEHOLDERS, turns)
        await self._insert("model_costs", cost_ledger.COLUMNS, cost_ledger.ROW_PLACEHOLDERS, costs)

    async def _insert(
        self, table: str, columns: str, placeholders: str, rows: list[TurnRow] | list[CostRow]
    ) -> None:
        if not rows:
            return
        sql = f"INSERT INTO {table} ({columns}) VALUES " + ", ".join([placeholders] * len(rows))
        params = [value for row in rows for value in row]
        try:
            await self.db.execute(sql, params)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.failed += len(rows)
            log.exception(
                "turn log: %d %s rows not written (%d so far)", len(rows), table, self.failed
            )
        else:
            self.written += len(rows)

    async def figures(self, since: datetime) -> dict[str, AgentFigures]:
        """Per agent, the turns since `since` (an aware datetime, e.g. the start of the day):
        count, errors, p50/p95 latency (nearest rank, by a window function both dialects have)
        and cost. The `(at)` index keeps it to those rows."""
        async with self.db.transaction() as tx:
            totals = await tx.fetchall(
                "SELECT agent_id, COUNT(*), "
                "SUM(CASE WHEN error_code IS NULL THEN 0 ELSE 1 END), "
                "SUM(cost_usd_micros), SUM(cost_brl_micros) "
                "FROM chat_turns WHERE at >= %s AND agent_id IS NOT NULL GROUP BY agent_id",
                (since,),
            )
            ranks = await tx.fetchall(
                "SELECT agent_id, "
                "MIN(CASE WHEN rn >= 0.5 * n THEN latency_ms END), "
                "MIN(CASE WHEN rn >= 0.95 * n THEN latency_ms END) "
                "FROM (SELECT agent_id, latency_ms, "
                "ROW_NUMBER() OVER (PARTITION BY agent_id ORDER BY latency_ms) AS rn, "
                "COUNT(*) OVER (PARTITION BY agent_id) AS n "
                "FROM chat_turns WHERE at >= %s AND agent_id IS NOT NULL) ranked "
                "GROUP BY agent_id",
                (since,),
            )
        latency = {row[0]: (row[1], row[2]) for row in ranks}
        return {
            agent_id: AgentFigures(
                messages=int(count),
                errors=int(errors or 0),
                p50_latency_ms=_int(latency.get(agent_id, (None, None))[0]),
                p95_latency_ms=_int(latency.get(agent_id, (None, None))[1]),
                cost_usd=from_micros(int(usd or 0)),
                cost_brl=from_micros(int(brl or 0)),
            )
            for agent_id, count, errors, usd, brl in totals
        }


def _int(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]
