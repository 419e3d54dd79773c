"""The contract of a tool: typed arguments in, a typed result out, callable three ways.

A tool is one async function over pydantic models, registered by name. The model calls it
through `bind_tools` (its JSON schema is the arguments model's), offline mode calls it with
arguments extracted from the owner's Portuguese, and integrations call it over HTTP
(`POST /v1/tools/{name}`) or from the shell (`esquadra tool NAME --args`). Each way validates
the same model, so a bad argument is the same field error everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    ValidationError,
)

from finance.amounts import format_brl, parse_amount
from graphs.state import BUSINESS_TZ

CENT = Decimal("0.01")
MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")  # "2026-11": a month as every tool takes it
_PLAIN_DECIMAL = re.compile(r"-?\d+(?:\.\d+)?")


def _to_decimal(value: Any) -> Any:
    """Numbers or strings: `1500`, `"1500.00"`, `"R$ 1.500,00"` (Brazilian notation)."""
    if isinstance(value, bool):
        raise ValueError("esperava um valor em reais, não verdadeiro/falso")
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str):
        text = value.strip()
        if _PLAIN_DECIMAL.fullmatch(text):
            return Decimal(text)
        # Brazilian notation ("R$ 1.500,00", "dois mil"); a CPF or phone is never an amount.
        parsed = parse_amount(text)
        if parsed is None:
            raise ValueError(f"não entendi o valor {value!r}")
        return parsed
    raise ValueError("esperava um número ou um texto com o valor")


def _check_month(value: str) -> str:
    if not MONTH.fullmatch(value):
        raise ValueError("use o formato AAAA-MM, por exemplo 2026-11")
    return value


# A month argument ("2026-11"), with the same field error in every tool.
MonthArg = Annotated[str, AfterValidator(_check_month)]


def money_text(value: Decimal) -> str:
    """A result's money: a decimal string with two places (`"1500.00"`)."""
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


def percent_text(value: Decimal) -> str:
    """A result's rate, already in percent, with two places: 11,2 % → `"11.20"`."""
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


# Arguments accept numbers or strings; results give decimal strings.
MoneyArg = Annotated[Decimal, BeforeValidator(_to_decimal)]
MoneyOut = Annotated[Decimal, PlainSerializer(money_text, return_type=str)]
PercentOut = Annotated[Decimal, PlainSerializer(percent_text, return_type=str)]


class Args(BaseModel):
    """Tool arguments: unknown keys are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Result(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ToolArgsError(Exception):
    """Arguments that do not validate: one message per field, in Portuguese."""

    def __init__(self, tool: str, errors: list[dict[str, str]]) -> None:
        self.tool = tool
        self.errors = errors
        super().__init__(f"{tool}: {self.problems}")

    @property
    def problems(self) -> str:
        """ "field: message; field: message", as the owner is told."""
        return "; ".join(f"{e['field']}: {e['message']}" for e in self.errors)


class UnknownTool(KeyError):
    """No tool has this name."""


@dataclass(frozen=True)
class ToolEnv:
    """What a tool may use besides its arguments: the stores, the clock, where the call came
    from. Reaches graph nodes through the run's context, never through globals."""

    ledger: Any = None  # checkpointing.ledger.LedgerStore; None where no store is open
    profiles: Any = None  # checkpointing.business.BusinessProfiles: the owner's regime, state
    now: datetime | None = None  # pinned by tests and replays; else the real clock
    source: dict[str, Any] = field(default_factory=dict)  # {"type": "message"|"api"|"cli", …}

    def today(self) -> date:
        return self.local_now().date()

    def local_now(self) -> datetime:
        """Now in America/Sao_Paulo: "hoje" and months are Brazilian time."""
        return (self.now or datetime.now(BUSINESS_TZ)).astimezone(BUSINESS_TZ)


A = TypeVar("A", bound=Args)
R = TypeVar("R", bound=Result)


@dataclass(frozen=True)
class ToolSpec(Generic[A, R]):
    """One registered tool."""

    name: str
    description: str  # for the model: what it does and when to call it
    args: type[A]
    result: type[R]
    run: Callable[[A, ToolEnv], Awaitable[R]]
    # Offline mode: arguments from the owner's message, or None when the message is not for it.
    extract: Callable[[str, ToolEnv], dict[str, Any] | None] | None = None
    summary: Callable[[A, R], str] | None = None  # the result as one pt-BR sentence
    writes: bool = False  # changes stored data: a workflow confirms before it runs
    user_scoped: bool = False  # takes `user_id`, filled from the caller, never from the model
    labels: Mapping[str, str] = field(default_factory=dict)  # values as the owner reads them
    # Fills what the caller left out (today's date, a default category) before a workflow asks
    # to confirm, so the owner confirms exactly what will be written.
    complete: Callable[[A, ToolEnv], A] | None = None

    def validate(self, raw: dict[str, Any]) -> A:
        """The arguments, or `ToolArgsError` naming each bad field."""
        try:
            return self.args.model_validate(raw)
        except ValidationError as error:
            raise ToolArgsError(self.name, field_errors(error)) from None

    async def call(self, raw: dict[str, Any], env: ToolEnv) -> R:
        return await self.run(self.validate(raw), env)

    def model_schema(self) -> dict[str, Any]:
        """The OpenAI function description (user_id left out: the caller supplies it)."""
        schema = self.args.model_json_schema()
        if self.user_scoped:
            schema = dict(schema)
            schema["properties"] = {
                k: v for k, v in schema.get("properties", {}).items() if k != "user_id"
            }
            schema["required"] = [r for r in schema.get("required", []) if r != "user_id"]
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": schema},
        }

    def describe(self, args: A, result: R) -> str:
        return self.summary(args, result) if self.summary else result.model_dump_json()


def render(template: str, spec: ToolSpec[Any, Any], *models: BaseModel) -> str:
    """A workflow's text with the tool's fields filled in as the owner reads them: money as
    R$ 1.234,56, dates as 30/11/2026, coded values (`income`) by the tool's labels."""
    values: dict[str, str] = {}
    for model in models:
        for name in type(model).model_fields:
            values[name] = _shown(getattr(model, name), spec.labels)
    return template.format_map(values)


def _shown(value: Any, labels: Mapping[str, str]) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format_brl(value)
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, str):
        return labels.get(value, value)
    return str(value)


def field_errors(error: ValidationError) -> list[dict[str, str]]:
    """pydantic's errors as `[{field, message}]` with dotted field paths."""
    out = []
    for item in error.errors(include_url=False):
        where = ".".join(str(part) for part in item["loc"]) or "args"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "campo desconhecido"
        elif item["type"] == "missing":
            message = "campo obrigatório"
        elif message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        out.append({"field": where, "message": message})
    return out


def parse_money_or_none(value: Any) -> Decimal | None:
    try:
        return _to_decimal(value)
    except (ValueError, InvalidOperation):
        return None
