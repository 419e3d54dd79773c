"""Leo's cash book tools: `record_transaction` and `cash_summary`, over the per-user ledger."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field, field_validator

from core.text import fold
from nodes.money import find_brl_amount, format_brl
from tools import categories
from tools.base import Args, MoneyArg, MoneyOut, MonthArg, Result, ToolEnv, ToolSpec
from tools.text_dates import entry_date, strip_dates

_RECORD_VERB = re.compile(
    r"\b(?:regist\w*|lanc(?:a|e|ar|o|ou|ei|amentos?)|anot\w*|adicion\w*|inclu\w*|coloc\w*|bot\w*|"
    r"paguei|recebi|vendi|gastei|comprei|faturei|entrou|saiu)\b"
)
_QUESTION_START = re.compile(r"^\s*(?:quanto|qual|quais|como|quando|onde|posso|devo|pode)\b")
_EXPLICIT_KIND = re.compile(r"\b(receitas?|entradas?|despesas?|saidas?)\b")
_EXPENSE_WORD = re.compile(r"\b(?:despesas?|saidas?|gast\w*|pag\w*|compr\w*|conta de)\b")
_INCOME_WORD = re.compile(r"\b(?:receitas?|entradas?|recebi\w*|receb\w*|vend\w*|fatur\w*|entrou)\b")
_FILLERS = frozenset(
    [*"de da do das dos com em no na nos nas pra pro para ref referente a o e um uma".split(), ""]
)
_SUMMARY_ASK = re.compile(
    r"\bsaldo\b|\bcaixa\b|balanco|resumo|quanto (?:eu )?(?:entrou|saiu|gastei|vendi|faturei|"
    r"recebi)|\btotal (?:de |das |dos )?(?:receitas|despesas|vendas|gastos)"
)
KIND_LABEL = {"income": "receita", "expense": "despesa"}


class RecordTransactionArgs(Args):
    user_id: str = Field(min_length=1, max_length=128)
    kind: Literal["income", "expense"] = Field(description="income: receita; expense: despesa")
    amount: MoneyArg = Field(description="Valor em reais, positivo (ex.: 1500 ou '1500.00')")
    date: dt.date | None = Field(default=None, description="Data do lançamento; padrão: hoje")
    category: str | None = Field(default=None, max_length=60)
    description: str | None = Field(default=None, max_length=200)

    @field_validator("amount")
    @classmethod
    def _positive(cls, value: Decimal) -> Decimal:
        if value <= 0:
            raise ValueError("o valor precisa ser maior que zero")
        if value > Decimal("1000000000"):
            raise ValueError("valor alto demais para um lançamento")
        if value != value.quantize(Decimal("0.01")):
            raise ValueError("o valor tem mais de duas casas decimais")
        return value


class TransactionResult(Result):
    id: int
    kind: Literal["income", "expense"]
    amount: MoneyOut
    date: dt.date
    category: str
    description: str


class CashSummaryArgs(Args):
    user_id: str = Field(min_length=1, max_length=128)
    month: MonthArg = Field(description="Mês no formato YYYY-MM")


class CashSummaryResult(Result):
    month: str
    income: MoneyOut
    expense: MoneyOut
    balance: MoneyOut
    by_category: dict[str, MoneyOut]
    entries: int


async def record_transaction(args: RecordTransactionArgs, env: ToolEnv) -> TransactionResult:
    when = args.date or env.today()
    category = args.category or categories.default_for(args.kind, args.description or "")
    description = categories.clean_description(args.description or "") or category
    entry_id = await env.ledger.add(
        args.user_id, args.kind, args.amount, when, category, description, env.source
    )
    return TransactionResult(
        id=entry_id,
        kind=args.kind,
        amount=args.amount,
        date=when,
        category=category,
        description=description,
    )


async def cash_summary(args: CashSummaryArgs, env: ToolEnv) -> CashSummaryResult:
    summary = await env.ledger.summary(args.user_id, args.month)
    return CashSummaryResult(
        month=args.month,
        income=summary.income,
        expense=summary.expense,
        balance=summary.balance,
        by_category=summary.by_category,
        entries=summary.entries,
    )


def complete_transaction(args: RecordTransactionArgs, env: ToolEnv) -> RecordTransactionArgs:
    """The date (today) and category (from the description) the entry will get."""
    return args.model_copy(
        update={
            "date": args.date or env.today(),
            "category": args.category or categories.default_for(args.kind, args.description or ""),
        }
    )


def extract_transaction(message: str, env: ToolEnv) -> dict[str, Any] | None:
    """'lança despesa de 350 reais com luz ontem' → arguments; None when not a request to
    record (a question, no amount) — and no kind means we cannot guess, so None as well."""
    folded = fold(message)
    if not _RECORD_VERB.search(folded) or _QUESTION_START.match(folded):
        return None
    amount = find_brl_amount(message)
    kind = _kind(folded)
    if amount is None or kind is None:
        return None
    description = _description(message, amount.end)
    return {
        "kind": kind,
        "amount": str(amount.value),
        "date": entry_date(folded, env.today()).isoformat(),
        "category": categories.default_for(kind, folded),
        "description": description or None,
    }


def extract_summary(message: str, env: ToolEnv) -> dict[str, Any] | None:
    """'qual meu saldo do mês?' → this month (or last month when it says so)."""
    folded = fold(message)
    if not _SUMMARY_ASK.search(folded) or extract_transaction(message, env) is not None:
        return None
    today = env.today()
    if re.search(r"\bmes passado\b", folded):
        year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
        return {"month": f"{year:04d}-{month:02d}"}
    return {"month": f"{today:%Y-%m}"}


def _kind(folded: str) -> Literal["income", "expense"] | None:
    # A word the owner chose on purpose ("saída", "receita") outranks a verb's implication.
    if explicit := _EXPLICIT_KIND.search(folded):
        return "income" if explicit.group(1).startswith(("receit", "entrad")) else "expense"
    income, expense = _INCOME_WORD.search(folded), _EXPENSE_WORD.search(folded)
    if income and expense:
        return "income" if income.start() < expense.start() else "expense"
    return "income" if income else "expense" if expense else None


def _description(message: str, amount_end: int) -> str:
    """The words after the amount ('de gás dia 28/11' → 'gás'), without dates and fillers."""
    words = strip_dates(message[amount_end:]).replace(",", " ").split()
    words = [word.strip(".;:!?-") for word in words]
    while words and fold(words[0]) in _FILLERS:
        words.pop(0)
    while words and fold(words[-1]) in _FILLERS:
        words.pop()
    return categories.clean_description(" ".join(words))[:60].strip()


def _transaction_summary(args: RecordTransactionArgs, result: TransactionResult) -> str:
    return (
        f"Registrei {KIND_LABEL[result.kind]} de {format_brl(result.amount)} em "
        f"{result.date:%d/%m/%Y} ({result.category})."
    )


def _cash_summary_text(args: CashSummaryArgs, result: CashSummaryResult) -> str:
    year, month = args.month.split("-")
    if result.entries == 0:
        return f"Nenhum lançamento registrado em {month}/{year}."
    return (
        f"Caixa de {month}/{year}: receitas {format_brl(result.income)}, despesas "
        f"{format_brl(result.expense)}, saldo {format_brl(result.balance)} "
        f"({result.entries} lançamento{'s' if result.entries != 1 else ''})."
    )


RECORD_TRANSACTION = ToolSpec(
    name="record_transaction",
    description="Registra uma receita (income) ou despesa (expense) no caixa do dono. "
    "Use quando o dono pedir para lançar, anotar ou registrar um valor.",
    args=RecordTransactionArgs,
    result=TransactionResult,
    run=record_transaction,
    extract=extract_transaction,
    summary=_transaction_summary,
    writes=True,
    user_scoped=True,
    labels=KIND_LABEL,
    complete=complete_transaction,
)
CASH_SUMMARY = ToolSpec(
    name="cash_summary",
    description="Resumo do caixa de um mês (receitas, despesas, saldo e totais por categoria).",
    args=CashSummaryArgs,
    result=CashSummaryResult,
    run=cash_summary,
    extract=extract_summary,
    summary=_cash_summary_text,
    user_scoped=True,
)
