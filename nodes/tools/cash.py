"""Cash book tools: record an income or expense, and sum what the thread has recorded."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from nodes.money import find_brl_amount, fold, format_brl
from nodes.tools._base import ToolContext, ToolResult

INCOME, EXPENSE = "receita", "despesa"

# Ordered: the first category whose keywords appear wins, so specific ones come first
# ("gasolina" is Transporte before "gas" makes it Energia e água).
INCOME_CATEGORIES: tuple[tuple[str, str], ...] = (
    ("Serviços", r"servic|atendiment|consulta|conserto|manutenc|corte|projeto|mao de obra"),
    ("Vendas", r"vend|fatur|pedido|encomenda|cliente"),
)
EXPENSE_CATEGORIES: tuple[tuple[str, str], ...] = (
    ("Aluguel", r"aluguel|condominio"),
    ("Transporte", r"transporte|gasolina|combustivel|uber|frete|onibus|estacionamento|pedagio"),
    ("Energia e água", r"\bluz\b|energia|eletric|\bagua\b|\bgas\b|internet|telefone"),
    ("Folha de pagamento", r"salario|folha|funcionari|ferias|decimo|\b13\s*[ºo]\b|pro.?labore"),
    ("Impostos", r"imposto|simples nacional|\bdas\b do|inss|fgts|\biss\b|icms|tributo|darf"),
    ("Marketing", r"marketing|anuncio|propaganda|instagram|facebook|google|panfleto|impulsion"),
    ("Material", r"material|materiais|limpeza|escritorio|embalage"),
    ("Fornecedores", r"fornecedor|mercadoria|estoque|insumo|materia.prima|revenda"),
)
MONTHS = (
    "janeiro fevereiro março abril maio junho julho agosto setembro outubro novembro dezembro"
).split()
OTHER_INCOME, OTHER_EXPENSE = "Outras receitas", "Outras despesas"
CATEGORIES: tuple[str, ...] = (
    *(name for name, _ in INCOME_CATEGORIES),
    OTHER_INCOME,
    *(name for name, _ in EXPENSE_CATEGORIES),
    OTHER_EXPENSE,
)

_RECORD_VERB = re.compile(
    r"\b(?:regist\w*|lanc(?:a|e|ar|o|ou|ei|amentos?)|anot\w*|adicion\w*|inclu\w*|coloc\w*|bot\w*|"
    r"paguei|recebi|vendi|gastei|comprei|faturei|entrou|saiu)\b"
)
_QUESTION_START = re.compile(r"^\s*(?:quanto|qual|quais|como|quando|onde|posso|devo|pode)\b")
_EXPENSE_WORD = re.compile(r"\b(?:despesas?|saidas?|gast\w*|pag\w*|compr\w*|conta de)\b")
_INCOME_WORD = re.compile(r"\b(?:receitas?|entradas?|recebi\w*|receb\w*|vend\w*|fatur\w*|entrou)\b")
_EXPLICIT_KIND = re.compile(r"\b(receitas?|entradas?|despesas?|saidas?)\b")

_FULL_DATE = re.compile(r"\b(?:dia\s+)?(\d{1,2})/(\d{1,2})(?:/(\d{2}|\d{4}))?\b")
_DAY_ONLY = re.compile(r"\bdia\s+(\d{1,2})\b(?!/)")
_RELATIVE_DAYS = (("anteontem", 2), ("ontem", 1), ("hoje", 0), ("hj", 0))
_DATE_WORDS = re.compile(r"\b(?:anteontem|ontem|hoje|hj)\b")
_FILLERS = frozenset(
    [*"de da do das dos com em no na nos nas pra pro para ref referente a o e um uma".split(), ""]
)


def cash_entry(message: str, ctx: ToolContext) -> ToolResult | None:
    """Turn 'lança despesa de 350 reais com luz ontem' into a ledger entry."""
    folded = fold(message)
    amount = find_brl_amount(message)
    if amount is None or not _RECORD_VERB.search(folded) or _QUESTION_START.match(folded):
        return None
    kind = _kind(folded)
    if kind is None:
        return ToolResult(
            "cash_entry",
            f"Para registrar {format_brl(amount.value)} preciso saber: é receita (entrada) "
            "ou despesa (saída)?",
        )
    when = _entry_date(folded, ctx.today)
    category = _category(folded, kind)
    description = _description(message, folded, amount.end) or category
    entry = {
        "id": hashlib.sha1(f"{message}|{when.isoformat()}".encode()).hexdigest()[:12],
        "kind": kind,
        "amount": str(amount.value),
        "category": category,
        "date": when.isoformat(),
        "description": description,
        "source": message,
    }
    detail = "" if description == category else f" ({description})"
    text = (
        f"Lançamento registrado: {kind} de {format_brl(amount.value)} em {category}{detail}, "
        f"{when:%d/%m/%Y}."
    )
    return ToolResult("cash_entry", text, [entry])


def cash_balance(message: str, ctx: ToolContext) -> ToolResult | None:
    """Answer 'qual meu saldo?' from the entries recorded in this thread."""
    folded = fold(message)
    asks = re.search(
        r"\bsaldo\b|\bcaixa\b|balanco|quanto (?:eu )?(?:entrou|saiu|gastei|vendi|faturei|recebi)"
        r"|\b(?:total|resumo) (?:de |das |dos )?(?:receitas|despesas|vendas|gastos|lancamentos)",
        folded,
    )
    if not asks or cash_entry(message, ctx) is not None:
        return None
    if not ctx.ledger:
        return ToolResult(
            "cash_balance",
            "Ainda não há lançamentos registrados nesta conversa, então não há saldo a calcular.",
        )
    label, start, end = _period(folded, ctx.today)
    entries = [e for e in _valid(ctx.ledger) if start <= e[2] <= end]
    if not entries:
        return ToolResult(
            "cash_balance",
            f"Nenhum lançamento registrado {label} nesta conversa "
            f"({len(ctx.ledger)} no total em outros períodos).",
        )
    income = sum((value for kind, value, _ in entries if kind == INCOME), Decimal(0))
    expense = sum((value for kind, value, _ in entries if kind == EXPENSE), Decimal(0))
    count = (
        "1 lançamento registrado"
        if len(entries) == 1
        else f"{len(entries)} lançamentos registrados"
    )
    text = (
        f"Caixa {label}: receitas {format_brl(income)}, despesas {format_brl(expense)}, "
        f"saldo {format_brl(income - expense)} (com base em {count} nesta conversa)."
    )
    return ToolResult("cash_balance", text)


def _kind(folded: str) -> str | None:
    # A word the owner chose on purpose ("saída", "receita") outranks a verb's implication.
    if explicit := _EXPLICIT_KIND.search(folded):
        return INCOME if explicit.group(1).startswith(("receit", "entrad")) else EXPENSE
    income, expense = _INCOME_WORD.search(folded), _EXPENSE_WORD.search(folded)
    if income and expense:
        return INCOME if income.start() < expense.start() else EXPENSE
    return INCOME if income else EXPENSE if expense else None


def _category(folded: str, kind: str) -> str:
    table = INCOME_CATEGORIES if kind == INCOME else EXPENSE_CATEGORIES
    for name, pattern in table:
        if re.search(pattern, folded):
            return name
    return OTHER_INCOME if kind == INCOME else OTHER_EXPENSE


def _entry_date(folded: str, today: date) -> date:
    if match := _FULL_DATE.search(folded):
        day, month, year = match.groups()
        if found := _nearest_date(int(day), int(month), year, today):
            return found
    if match := _DAY_ONLY.search(folded):
        day = int(match.group(1))
        # "dia 28" is this month if that day has come, otherwise last month.
        month_start = today.replace(day=1) if day <= today.day else _previous_month(today)
        try:
            return month_start.replace(day=day)
        except ValueError:
            pass
    for word, days_back in _RELATIVE_DAYS:
        if re.search(rf"\b{word}\b", folded):
            return today - timedelta(days=days_back)
    return today


def _nearest_date(day: int, month: int, year: str | None, today: date) -> date | None:
    if year:
        full_year = int(year) + 2000 if len(year) == 2 else int(year)
        years = [full_year]
    else:
        # Without a year, "28/12" typed on 5 January means last December: take the nearest.
        years = [today.year - 1, today.year, today.year + 1]
    options = []
    for candidate in years:
        try:
            options.append(date(candidate, month, day))
        except ValueError:
            continue
    return min(options, key=lambda d: abs(d - today)) if options else None


def _previous_month(today: date) -> date:
    return (today.replace(day=1) - timedelta(days=1)).replace(day=1)


def _description(message: str, folded: str, amount_end: int) -> str:
    """The words after the amount ('de gás dia 28/11' -> 'gás'), without dates and fillers."""
    tail = list(message[amount_end:])
    for pattern in (_FULL_DATE, _DAY_ONLY, _DATE_WORDS):
        for match in pattern.finditer(folded[amount_end:]):
            tail[match.start() : match.end()] = " " * (match.end() - match.start())
    words = "".join(tail).replace(",", " ").split()
    words = [word.strip(".;:!?-") for word in words]
    while words and fold(words[0]) in _FILLERS:
        words.pop(0)
    while words and fold(words[-1]) in _FILLERS:
        words.pop()
    return " ".join(words)[:60].strip()


def _period(folded: str, today: date) -> tuple[str, date, date]:
    if re.search(r"\bmes passado\b", folded):
        start = _previous_month(today)
        return f"em {_month_label(start)}", start, today.replace(day=1) - timedelta(days=1)
    if re.search(r"\b(?:mes|mensal)\b", folded):
        return f"em {_month_label(today)}", today.replace(day=1), today
    if re.search(r"\b(?:hoje|hj)\b", folded):
        return "hoje", today, today
    return "no total", date.min, date.max


def _month_label(day: date) -> str:
    return f"{MONTHS[day.month - 1]}/{day.year}"


def _valid(ledger: Iterable[dict[str, Any]]) -> list[tuple[str, Decimal, date]]:
    """Entries that can be summed; a malformed one is skipped rather than trusted."""
    rows = []
    for entry in ledger:
        try:
            kind, value = entry["kind"], Decimal(str(entry["amount"]))
            when = date.fromisoformat(str(entry["date"]))
        except (KeyError, InvalidOperation, ValueError):
            continue
        if kind in (INCOME, EXPENSE):
            rows.append((kind, value, when))
    return rows
