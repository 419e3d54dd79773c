"""The cost ledger (`model_costs`): one row per model call, priced, read back by group and day.

Every model call a turn makes — the agent's reply (`kind` agent) and the llm routing layer's
classification (`kind` routing) — becomes one `CostRow`: who (agent, thread, user, channel),
when (`at`, and the São Paulo `day` it counts against), which model profile priced it, the
tokens the provider reported and the cost in integer micro-units of US dollars and reais (as
`chat_turns` keeps money: exact, and summed exactly by SQL on both dialects). The rows are
written off the hot path by the turn log's batch writer (`checkpointing/turn_log.py`), next to
the turn's own row.

A routing call is charged to the agent the turn went to, so "cost per agent" is what serving
that agent's messages cost, classification included; `kind` keeps the two apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Literal, NamedTuple

from checkpointing.sql import Database

GroupBy = Literal["agent", "thread", "user", "day"]
# Column per grouping: the only text ever put into the statement (never the caller's string).
_GROUP_COLUMNS: dict[str, str] = {
    "agent": "agent_id",
    "thread": "thread_id",
    "user": "user_id",
    "day": "day",
}
GROUPS: tuple[str, ...] = tuple(_GROUP_COLUMNS)

_MICROS = Decimal(1_000_000)
_SIX = Decimal("0.000001")


class CostRow(NamedTuple):
    """One priced model call as `model_costs` keeps it (a tuple: cheap on the chat path)."""

    at: datetime
    day: str  # ISO date in America/Sao_Paulo: the day a budget counts it against
    kind: str  # agent | routing
    agent_id: str | None
    thread_id: str | None
    user_id: str | None
    channel: str
    model_profile: str
    input_tokens: int
    output_tokens: int
    cost_usd_micros: int
    cost_brl_micros: int


COLUMNS = ", ".join(CostRow._fields)
ROW_PLACEHOLDERS = "(" + ", ".join(["%s"] * len(CostRow._fields)) + ")"


@dataclass(frozen=True)
class CostGroup:
    """The calls of one group (an agent, a thread, a user or a day) in a date range."""

    key: str | None
    calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal
    cost_brl: Decimal
    routing_cost_brl: Decimal  # the part spent classifying (the llm routing layer)


def _money(micros: object) -> Decimal:
    return (Decimal(int(micros or 0)) / _MICROS).quantize(_SIX)  # type: ignore[call-overload]


async def cost_groups(db: Database, group_by: GroupBy, first: date, last: date) -> list[CostGroup]:
    """Calls from day `first` to day `last` (inclusive, São Paulo days) summed per group, the
    costliest first. `group_by` must be one of `GROUPS` (the caller validates it)."""
    column = _GROUP_COLUMNS[group_by]
    async with db.transaction() as tx:
        rows = await tx.fetchall(
            f"SELECT {column}, COUNT(*), SUM(input_tokens), SUM(output_tokens), "
            "SUM(cost_usd_micros), SUM(cost_brl_micros), "
            "SUM(CASE WHEN kind = 'routing' THEN cost_brl_micros ELSE 0 END) "
            "FROM model_costs WHERE day >= %s AND day <= %s "
            f"GROUP BY {column} ORDER BY SUM(cost_brl_micros) DESC, {column}",
            (first.isoformat(), last.isoformat()),
        )
    return [
        CostGroup(
            key=None if key is None else str(key),
            calls=int(calls),
            input_tokens=int(tokens_in or 0),
            output_tokens=int(tokens_out or 0),
            cost_usd=_money(usd),
            cost_brl=_money(brl),
            routing_cost_brl=_money(routing),
        )
        for key, calls, tokens_in, tokens_out, usd, brl, routing in rows
    ]


async def spent_today_by_agent(db: Database, day: date) -> dict[str, Decimal]:
    """Reais spent per agent on `day` (São Paulo), routing included: what the daily budgets
    (`budget_brl_per_day`) and the "daily cost over budget" alert compare against. Rows still
    queued in a worker's turn log are not counted until written (at most ~0.5 s later)."""
    async with db.transaction() as tx:
        rows = await tx.fetchall(
            "SELECT agent_id, SUM(cost_brl_micros) FROM model_costs "
            "WHERE day = %s AND agent_id IS NOT NULL GROUP BY agent_id",
            (day.isoformat(),),
        )
    return {str(agent): _money(brl) for agent, brl in rows}
