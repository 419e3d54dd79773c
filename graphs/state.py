"""The squad graph's state, per-run context and route types: a leaf (imports nothing of ours)."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from pydantic.json_schema import SkipJsonSchema
from typing_extensions import TypedDict  # pydantic needs it on 3.11 (Studio schemas)

BUSINESS_TZ = ZoneInfo("America/Sao_Paulo")


class Candidate(TypedDict):
    agent: str
    score: float


class RouteDecision(TypedDict):
    """Which agent answers, which layer decided, how sure it was, and who else was considered."""

    agent: str
    layer: str
    confidence: float
    candidates: list[Candidate]


class HistoryTurn(TypedDict):
    role: Literal["user", "assistant"]
    content: str
    agent: str | None


class Usage(TypedDict):
    input_tokens: int
    output_tokens: int


class ModelUsage(TypedDict):
    """One model call besides the agent's reply (the llm routing layer's): the model profile
    that priced it and the tokens the provider reported."""

    kind: Literal["routing"]
    profile: str
    input_tokens: int
    output_tokens: int


@dataclass
class TurnMeter:
    """What the nodes measured during one turn, read once by whoever ran it (the server prices
    the calls into the cost ledger and observes the time in its metrics): the model calls made
    besides the agent's reply and the time the classifier took. A plain object the nodes
    append to, so the hot path makes no metric or ledger call of its own."""

    calls: list[ModelUsage] = field(default_factory=list)
    routing_s: float | None = None


class TurnError(TypedDict):
    code: str
    message: str


class TurnResult(TypedDict):
    """How the last turn went: who answered, with or without a model, tokens, failure."""

    agent: str
    offline: bool
    usage: Usage
    error: TurnError | None


class WorkflowCall(TypedDict):
    """An agent handing its turn to a workflow: which one, the model's arguments (None: the
    workflow extracts them from the message), and the tokens the agent spent deciding."""

    workflow: str
    args: dict[str, Any] | None
    usage: Usage


class PendingAction(TypedDict):
    """A workflow waiting for the owner's sim/não: what it will run, and until when."""

    workflow: str
    tool: str
    args: dict[str, Any]
    question: str
    expires_at: str  # ISO, UTC
    seen: str | None  # id of the last user message already weighed as an answer


class SquadState(TypedDict, total=False):
    """Checkpointed per thread: the conversation, the last route and turn, a pending action."""

    messages: Annotated[list[AnyMessage], add_messages]
    route: RouteDecision | None
    active_agent: str | None
    turn: TurnResult | None
    # Before [S8] the cash book lived here, per thread; it is now `ledger_entries`, per user.
    # Kept so older checkpoints still load; nothing writes it.
    ledger: Annotated[list[dict[str, Any]], operator.add]
    workflow_call: WorkflowCall | None
    pending: PendingAction | None


@dataclass(frozen=True)
class SquadContext:
    """Per-run data that is not conversation state: who is writing, from where, and today's date."""

    user_id: str | None = None
    channel: str = "api"
    thread_id: str | None = None
    today: date | None = None
    facts: tuple[str, ...] = ()  # what the squad remembers about this user's business
    # The registry's snapshot this turn runs on (`nodes.agent.LiveAgents`; typed loosely since
    # this module imports nothing of ours): taken when the turn starts, so a change made
    # meanwhile reaches the next turn, never half of this one. None: the YAML as compiled.
    # Not an input a person types in Studio: left out of the context's JSON schema.
    live: SkipJsonSchema[Any] = None
    # The stores tools write to (`checkpointing.ledger.LedgerStore`); None: no store open
    # (Studio, tests of the graph alone), and tools that need one say so.
    ledger: SkipJsonSchema[Any] = None
    profiles: SkipJsonSchema[Any] = None  # `checkpointing.business.BusinessProfiles`
    # Filled by the nodes as the turn runs (`TurnMeter`); None: nobody reads it (Studio, tests).
    meter: SkipJsonSchema[TurnMeter | None] = None

    def business_today(self) -> date:
        """Today in Brazil unless the run pins a date (tests, replays)."""
        return self.today or datetime.now(BUSINESS_TZ).date()
