"""Brazilian commercial dates, computed for any year so campaign advice never cites a stale date."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta

from dateutil.easter import easter as _western_easter

from nodes.money import fold
from nodes.tools._base import ToolContext, ToolResult

WEEKDAYS = ("segunda", "terça", "quarta", "quinta", "sexta", "sábado", "domingo")
HOW_MANY = 4


def easter(year: int) -> date:
    """Gregorian Easter Sunday, from python-dateutil (the same computus `holidays` uses for the
    Good Friday in finance/calendar.py, so Carnaval and Sexta-feira Santa never disagree)."""
    return _western_easter(year)


def nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The n-th given weekday (Monday=0) of a month: 2nd Sunday of May is (y, 5, 6, 2)."""
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def black_friday(year: int) -> date:
    # The Friday after the US Thanksgiving (4th Thursday of November), as Brazilian retail uses.
    return nth_weekday(year, 11, 3, 4) + timedelta(days=1)


# (name, date for a year, folded keywords that mean the owner asked about this one)
COMMERCIAL_DATES: tuple[tuple[str, Callable[[int], date], str], ...] = (
    ("Carnaval", lambda y: easter(y) - timedelta(days=47), r"carnaval"),
    ("Dia do Consumidor", lambda y: date(y, 3, 15), r"consumidor"),
    ("Páscoa", easter, r"pascoa"),
    ("Dia das Mães", lambda y: nth_weekday(y, 5, 6, 2), r"\bmaes\b"),
    ("Dia dos Namorados", lambda y: date(y, 6, 12), r"namorad"),
    ("Dia dos Pais", lambda y: nth_weekday(y, 8, 6, 2), r"dia dos pais|dos pais\b"),
    ("Dia do Cliente", lambda y: date(y, 9, 15), r"dia do cliente"),
    ("Dia das Crianças", lambda y: date(y, 10, 12), r"criancas"),
    ("Black Friday", black_friday, r"black\s*friday|\bblack\b"),
    ("Natal", lambda y: date(y, 12, 25), r"\bnatal\b"),
)

_GENERIC = re.compile(
    r"\bdatas?\b.{0,30}(?:comemorativ|comerci|campanha|promoc|sazona|importante|proxim|vem)"
    r"|(?:proxim|quais)\w*\s+datas?\b|calendario\s+(?:de\s+)?(?:campanha|comercial|promoc|vendas)"
)


def next_occurrence(when: Callable[[int], date], today: date) -> date:
    """This year's date if it is today or still ahead, otherwise next year's."""
    this_year = when(today.year)
    return this_year if this_year >= today else when(today.year + 1)


def upcoming_dates(today: date, count: int = HOW_MANY) -> list[tuple[str, date]]:
    dates = [(name, next_occurrence(when, today)) for name, when, _ in COMMERCIAL_DATES]
    return sorted(dates, key=lambda item: item[1])[:count]


def seasonal_dates(message: str, ctx: ToolContext) -> ToolResult | None:
    """Answer 'quando é o dia dos pais?' or list the next commercial dates for campaigns."""
    folded = fold(message)
    asked = [
        (name, next_occurrence(when, ctx.today))
        for name, when, keywords in COMMERCIAL_DATES
        if re.search(keywords, folded)
    ]
    if asked:
        lines = [_describe(name, day, ctx.today) for name, day in asked]
        return ToolResult("seasonal_dates", " ".join(f"{line}." for line in lines))
    if not _GENERIC.search(folded):
        return None
    lines = [_describe(name, day, ctx.today) for name, day in upcoming_dates(ctx.today)]
    return ToolResult("seasonal_dates", "Próximas datas comerciais: " + "; ".join(lines) + ".")


def _describe(name: str, day: date, today: date) -> str:
    remaining = (day - today).days
    countdown = (
        "é hoje"
        if remaining == 0
        else "falta 1 dia"
        if remaining == 1
        else f"faltam {remaining} dias"
    )
    return f"{name}: {day:%d/%m/%Y} ({WEEKDAYS[day.weekday()]}, {countdown})"
