"""Business days and the month's tax and labour due dates, each rule with its legal source.

Holidays come from the `holidays` package (national and state; no hand-computed Easter).
Municipal holidays are not in it: a due date that falls on one moves the same way in real life,
which this module cannot see — the reminders say "confirme com o contador" for that reason.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

import holidays

__all__ = [
    "BUSINESS_TZ",
    "STATES",
    "CalendarError",
    "Holiday",
    "Obligation",
    "business_days",
    "holidays_between",
    "is_business_day",
    "local_today",
    "obligations",
]

BUSINESS_TZ = ZoneInfo("America/Sao_Paulo")  # "hoje" and months are Brazilian time
STATES = frozenset(code for code in holidays.Brazil.subdivisions if len(code) == 2)
MAX_SPAN_DAYS = 3 * 366  # a range longer than this is a mistake, not a question
YEARS = range(1900, 2200)  # holidays before the Republic's calendar are not this module's job
Regime = Literal["mei", "simples"]
# What happens to a due date that is not a business day: moved to the next one, to the
# previous one, or kept (a deadline for something filed online, not paid at a bank).
Shift = Literal["next", "previous", "none"]
_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")


class CalendarError(ValueError):
    """A bad argument, naming the field (for a 422)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class Holiday:
    date: dt.date
    name: str


@dataclass(frozen=True)
class Obligation:
    code: str
    name: str  # pt-BR, as the owner reads it
    due_date: dt.date  # after moving it off a weekend or holiday
    nominal_date: dt.date  # the date the rule names
    shift: Shift
    period: str  # what it refers to: "2026-10" (a month), "2025" (a year)
    source: str  # the legal source of the date and of the shift


def local_today(now: dt.datetime | None = None) -> dt.date:
    """Today in America/Sao_Paulo (a UTC server at 01:00 is still yesterday in Brazil)."""
    return (now or dt.datetime.now(BUSINESS_TZ)).astimezone(BUSINESS_TZ).date()


def _check_state(state: str | None) -> str | None:
    if state is None:
        return None
    code = state.strip().upper()
    if code not in STATES:
        raise CalendarError("state", "use a sigla de um estado, como PE ou SP")
    return code


@lru_cache(maxsize=256)
def _year_holidays(year: int, state: str | None) -> dict[dt.date, str]:
    table = holidays.country_holidays(
        "BR", subdiv=state, years=year, language="pt_BR", categories=("public",)
    )
    return dict(table.items())


def holidays_between(start: dt.date, end: dt.date, state: str | None = None) -> list[Holiday]:
    """National (and the state's) public holidays from `start` to `end`, both included."""
    code = _check_range(start, end, state)
    found = []
    for year in range(start.year, end.year + 1):
        for day, name in _year_holidays(year, code).items():
            if start <= day <= end:
                found.append(Holiday(day, name))
    return sorted(found, key=lambda h: h.date)


def is_business_day(day: dt.date, state: str | None = None) -> bool:
    """Monday to Friday and not a national (or the state's) public holiday."""
    return day.weekday() < 5 and day not in _year_holidays(day.year, _check_state(state))


def business_days(start: dt.date, end: dt.date, state: str | None = None) -> list[dt.date]:
    """The business days from `start` to `end`, both included."""
    code = _check_range(start, end, state)
    days = (start + dt.timedelta(n) for n in range((end - start).days + 1))
    return [day for day in days if is_business_day(day, code)]


def _check_range(start: dt.date, end: dt.date, state: str | None) -> str | None:
    if start.year not in YEARS:
        raise CalendarError("from", "use uma data entre 1900 e 2199")
    if end.year not in YEARS:
        raise CalendarError("to", "use uma data entre 1900 e 2199")
    if end < start:
        raise CalendarError("to", "a data final vem antes da inicial")
    if (end - start).days > MAX_SPAN_DAYS:
        raise CalendarError("to", "intervalo longo demais (até 3 anos)")
    return _check_state(state)


def shift(day: dt.date, rule: Shift, state: str | None = None) -> dt.date:
    """Move a due date off weekends and holidays as its rule says."""
    step = {"next": 1, "previous": -1, "none": 0}[rule]
    while step and not is_business_day(day, state):
        day += dt.timedelta(step)
    return day


def nth_working_day_with_saturdays(year: int, month: int, n: int, state: str | None) -> dt.date:
    """The n-th working day of a month counting Saturdays (as wage payment days are counted)."""
    day, count = dt.date(year, month, 1), 0
    while True:
        if day.weekday() < 6 and day not in _year_holidays(year, state):
            count += 1
            if count == n:
                return day
        day += dt.timedelta(1)


# Legal sources, quoted where each rule is applied.
_DAS = (
    "LC 123/2006, art. 21, III (até o dia 20 do mês seguinte ao da receita); Resolução CGSN "
    "140/2018, art. 40, § 3º (sem expediente bancário: dia útil imediatamente posterior)"
)
_DAS_MEI = (
    "LC 123/2006, art. 18-A e art. 21, III; Resolução CGSN 140/2018, art. 40, § 3º "
    "(vence no dia 20; sem expediente bancário, no dia útil seguinte)"
)
_DASN_SIMEI = "Resolução CGSN 140/2018, art. 109 (DASN-SIMEI até o último dia de maio)"
_DEFIS = "Resolução CGSN 140/2018, art. 72, § 1º (DEFIS até 31 de março do ano seguinte)"
_FGTS = (
    "Lei 8.036/1990, art. 15, na redação da Lei 14.438/2022 (dia 20, a partir do FGTS Digital, "
    "em março de 2024); sem expediente bancário, antecipa para o dia útil anterior"
)
_INSS = (
    "Lei 8.212/1991, art. 30, I, b (contribuições até o dia 20 do mês seguinte, antecipando "
    "quando não houver expediente bancário), recolhidas por DARF da DCTFWeb"
)
_ESOCIAL = (
    "Manual de Orientação do eSocial, eventos periódicos (S-1200 a S-1299) até o dia 15 do "
    "mês seguinte, antecipando quando não houver expediente bancário"
)
_WAGES = (
    "CLT, art. 459, § 1º (salário até o 5º dia útil do mês seguinte; o sábado conta como dia "
    "útil, domingos e feriados não)"
)
_13_FIRST = (
    "Lei 4.749/1965, art. 2º (1ª parcela do 13º entre fevereiro e 30 de novembro); o prazo é "
    "final: sem expediente, pague no dia útil anterior"
)
_13_SECOND = (
    "Lei 4.749/1965, art. 1º (2ª parcela do 13º até 20 de dezembro); o prazo é final: sem "
    "expediente, pague no dia útil anterior"
)


def obligations(
    regime: str, month: str, state: str | None = None, employees: bool = False
) -> list[Obligation]:
    """The due dates in `month` ("YYYY-MM") for a MEI or a Simples company, by date."""
    if regime not in ("mei", "simples"):
        raise CalendarError("regime", "use mei ou simples")
    match = _MONTH.fullmatch(month)
    if not match or int(match.group(1)) not in YEARS:
        raise CalendarError("month", "use o formato AAAA-MM, por exemplo 2026-11")
    code = _check_state(state)
    year, number = int(match.group(1)), int(match.group(2))
    previous = f"{year - 1}-12" if number == 1 else f"{year}-{number - 1:02d}"
    found: list[Obligation] = []

    def add(key: str, name: str, day: int, rule: Shift, period: str, source: str) -> None:
        nominal = dt.date(year, number, day)
        found.append(
            Obligation(key, name, shift(nominal, rule, code), nominal, rule, period, source)
        )

    if regime == "mei":
        add("das_mei", "DAS-MEI", 20, "next", previous, _DAS_MEI)
        if number == 5:
            add("dasn_simei", "DASN-SIMEI (declaração anual do MEI)", 31, "none", str(year - 1),
                _DASN_SIMEI)  # fmt: skip
    else:
        add("das", "DAS do Simples Nacional", 20, "next", previous, _DAS)
        if number == 3:
            add("defis", "DEFIS (declaração anual do Simples)", 31, "none", str(year - 1), _DEFIS)
    if employees:
        fifth = nth_working_day_with_saturdays(year, number, 5, code)
        add("salario", "Salário dos empregados (5º dia útil)", fifth.day, "none", previous,
            _WAGES)  # fmt: skip
        add("esocial", "eSocial: eventos da folha", 15, "previous", previous, _ESOCIAL)
        add("fgts", "FGTS (FGTS Digital)", 20, "previous", previous, _FGTS)
        add("inss", "INSS da folha (DCTFWeb)", 20, "previous", previous, _INSS)
        if number == 11:
            add("13_primeira", "13º salário: 1ª parcela", 30, "previous", str(year), _13_FIRST)
        if number == 12:
            add("13_segunda", "13º salário: 2ª parcela", 20, "previous", str(year), _13_SECOND)
    return sorted(found, key=lambda o: (o.due_date, o.code))
