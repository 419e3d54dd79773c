"""`GET /admin/api/costs`: the cost ledger summed by agent, thread, user or day, and today's
spend per agent against its daily budget (`budget_brl_per_day` in the YAML).

Behind the admin token like the rest of `/admin/api` (the app's one guard). Days are São Paulo
days, the ones budgets count; `from` and `to` are inclusive ISO dates (default: today).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated

import msgspec
from litestar import get
from litestar.datastructures import State
from litestar.params import QueryParameter

from checkpointing.cost_ledger import GROUPS, CostGroup, cost_groups
from checkpointing.turn_log import TurnLog
from graphs.schema import Agent
from graphs.state import BUSINESS_TZ
from server.costs import BudgetStatus, budget_status
from server.errors import ApiError
from server.schemas import ErrorBody, response_spec

MAX_RANGE_DAYS = 366


class CostGroupView(msgspec.Struct):
    key: str | None  # the agent id, thread id, user id or ISO day (None: calls without one)
    calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: str
    cost_brl: str
    routing_cost_brl: str  # of cost_brl, what classifying (the llm routing layer) cost


class BudgetView(msgspec.Struct):
    agent: str
    budget_brl: str | None  # None: no budget set for this agent
    spent_brl: str
    over_budget: bool


class CostsView(msgspec.Struct):
    group_by: str
    from_: str = msgspec.field(name="from")
    to: str = ""
    groups: list[CostGroupView] = []
    total_cost_brl: str = "0.000000"
    today: str = ""  # the São Paulo day the budgets are for
    budgets: list[BudgetView] = []


_RESPONSES = {
    401: response_spec(ErrorBody, description="`unauthorized`: missing or wrong admin token."),
    404: response_spec(ErrorBody, description="`admin_disabled`: no ADMIN_TOKEN set."),
    422: response_spec(
        ErrorBody, description="`invalid_group_by`, `invalid_date` or `invalid_date_range`."
    ),
}


@get(
    "/admin/api/costs",
    summary="Admin: model costs by agent, thread, user or day; today's spend vs budgets",
    description="Every model call (agent replies and llm routing calls), priced with the "
    "YAML's prices (US$ per 1M tokens) and `defaults.usd_brl`. `group_by`: "
    + " | ".join(GROUPS)
    + "; `from`/`to`: inclusive ISO dates in São Paulo (default: today, at most "
    f"{MAX_RANGE_DAYS} days).",
    responses=_RESPONSES,
)
async def list_costs(
    state: State,
    group_by: Annotated[str, QueryParameter(required=False)] = "agent",
    first: Annotated[str | None, QueryParameter(name="from", required=False)] = None,
    last: Annotated[str | None, QueryParameter(name="to", required=False)] = None,
) -> CostsView:
    if group_by not in GROUPS:
        raise ApiError(
            422,
            "invalid_group_by",
            f"'group_by' deve ser um de: {', '.join(GROUPS)} (recebido '{group_by[:40]}').",
        )
    today = datetime.now(BUSINESS_TZ).date()
    end = _day(last, "to") if last is not None else today
    start = _day(first, "from") if first is not None else end
    if start > end:
        raise ApiError(422, "invalid_date_range", "'from' deve ser igual ou anterior a 'to'.")
    if end - start > timedelta(days=MAX_RANGE_DAYS - 1):
        raise ApiError(
            422, "invalid_date_range", f"O período pode ter no máximo {MAX_RANGE_DAYS} dias."
        )
    turns: TurnLog = state.turn_log
    await turns.flush()  # this worker's own latest calls count too
    groups = await cost_groups(turns.db, group_by, start, end)  # type: ignore[arg-type]
    budgets = await budget_status(turns.db, _agents(state), today)
    return CostsView(
        group_by=group_by,
        from_=start.isoformat(),
        to=end.isoformat(),
        groups=[_group_view(group) for group in groups],
        total_cost_brl=str(sum((g.cost_brl for g in groups), start=_ZERO)),
        today=today.isoformat(),
        budgets=[_budget_view(budget) for budget in budgets],
    )


COST_ROUTES = [list_costs]

_ZERO = Decimal("0.000000")


def _day(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ApiError(
            422,
            "invalid_date",
            f"'{name}' deve ser uma data no formato AAAA-MM-DD (recebido '{value[:40]}').",
        ) from None


def _agents(state: State) -> list[Agent]:
    """Every agent as the live registry has it now (budgets come with a sync of the YAML)."""
    live = state.chat.live
    if live is not None:
        return [view.agent for view in live.current.agents.values()]
    return list(state.chat.squad.loaded.spec.agents)


def _group_view(group: CostGroup) -> CostGroupView:
    return CostGroupView(
        key=group.key,
        calls=group.calls,
        input_tokens=group.input_tokens,
        output_tokens=group.output_tokens,
        cost_usd=str(group.cost_usd),
        cost_brl=str(group.cost_brl),
        routing_cost_brl=str(group.routing_cost_brl),
    )


def _budget_view(budget: BudgetStatus) -> BudgetView:
    return BudgetView(
        agent=budget.agent,
        budget_brl=None if budget.budget_brl is None else str(budget.budget_brl),
        spent_brl=str(budget.spent_brl),
        over_budget=budget.over_budget,
    )
