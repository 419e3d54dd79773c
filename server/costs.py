"""Token usage to money: US dollars from the profile's prices, reais from the YAML's rate."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from checkpointing.cost_ledger import CostRow, spent_today_by_agent
from checkpointing.sql import Database
from checkpointing.turn_log import TurnRow, to_micros
from graphs.schema import Agent, Prices, SquadSpec
from graphs.state import BUSINESS_TZ, ModelUsage

_MILLION = Decimal(1_000_000)
_PLACES = Decimal("0.000001")


def turn_cost(
    prices: Prices, usd_brl: Decimal, input_tokens: int, output_tokens: int
) -> dict[str, str]:
    """Cost of one reply as decimal strings, so no float rounding reaches a client."""
    usd = (prices.input * input_tokens + prices.output * output_tokens) / _MILLION
    return {
        "usd": str(usd.quantize(_PLACES)),
        "brl": str((usd * usd_brl).quantize(_PLACES)),
    }


def priced_calls(row: TurnRow, calls: Iterable[ModelUsage], spec: SquadSpec) -> list[CostRow]:
    """A turn's model calls as cost ledger rows: the agent's reply when a model wrote one
    (priced already in `row`, like the `done` event) and each other call (the llm routing
    layer's), priced with its own profile and charged to the agent the turn went to."""
    who = (row.agent_id, row.thread_id, row.user_id, row.channel)
    rows = []
    if row.model_profile is not None and (row.input_tokens or row.output_tokens):
        rows.append(
            CostRow(
                row.at,
                _day(row.at),
                "agent",
                *who,
                row.model_profile,
                row.input_tokens,
                row.output_tokens,
                row.cost_usd_micros,
                row.cost_brl_micros,
            )
        )
    return rows + priced_routing(row.at, who, calls, spec)


def priced_routing(
    at: datetime,
    who: tuple[str | None, str | None, str | None, str],
    calls: Iterable[ModelUsage],
    spec: SquadSpec,
) -> list[CostRow]:
    """Model calls besides an agent's reply (the llm routing layer's) as cost ledger rows,
    each priced with its own profile; `who` = (agent, thread, user, channel)."""
    rows = []
    for call in calls:
        profile = spec.models.get(call["profile"])
        if profile is None:  # the loader checks every layer's profile; never on a valid squad
            continue
        tokens_in, tokens_out = call["input_tokens"], call["output_tokens"]
        cost = turn_cost(profile.price_per_1m_tokens, spec.defaults.usd_brl, tokens_in, tokens_out)
        rows.append(
            CostRow(
                at,
                _day(at),
                call["kind"],
                *who,
                call["profile"],
                tokens_in,
                tokens_out,
                to_micros(cost["usd"]),
                to_micros(cost["brl"]),
            )
        )
    return rows


def _day(at: datetime) -> str:
    """The São Paulo day a call counts against (budgets, `from`/`to`)."""
    return at.astimezone(BUSINESS_TZ).date().isoformat()


@dataclass(frozen=True)
class BudgetStatus:
    """One agent's spend on `day` against its `budget_brl_per_day` (None: no budget)."""

    agent: str
    budget_brl: Decimal | None
    spent_brl: Decimal

    @property
    def over_budget(self) -> bool:
        return self.budget_brl is not None and self.spent_brl > self.budget_brl


async def budget_status(db: Database, agents: Iterable[Agent], day: date) -> list[BudgetStatus]:
    """Every agent's spend on `day` (São Paulo) against its daily budget, in `agents`' order:
    what `GET /admin/api/costs` shows and the "daily cost over budget" alert reads."""
    spent = await spent_today_by_agent(db, day)
    zero = Decimal("0.000000")
    return [BudgetStatus(a.id, a.budget_brl_per_day, spent.get(a.id, zero)) for a in agents]
