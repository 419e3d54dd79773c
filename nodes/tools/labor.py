"""Labour-law arithmetic an owner asks about: proportional 13º and intern working hours."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP

from nodes.money import CENT, find_brl_amount, fold, format_brl
from nodes.tools._base import ToolContext, ToolResult

# "13" alone is only the 13º when salary talk surrounds it; "dia 13" is a date.
_THIRTEENTH = re.compile(r"decimo\s*terceiro|\b13\s*(?:[º°ª]|o\b|salario\b)")
_BARE_13 = re.compile(r"(?<!dia )\b13\b")
_SALARY_TALK = re.compile(r"ganh|salario|trabalh|meses")
_MONTH_WORDS = {
    word: number
    for number, word in enumerate(
        "um dois tres quatro cinco seis sete oito nove dez onze doze".split(), start=1
    )
}
_MONTHS = re.compile(rf"\b(\d{{1,2}}|{'|'.join(_MONTH_WORDS)})\s*(?:meses|mes)\b")
_FULL_YEAR = re.compile(
    r"\b(?:o ano (?:todo|inteiro)|ano (?:todo|inteiro|completo)|1 ano|um ano)\b"
)

_THIRTEENTH_RULE = (
    "Conta como mês trabalhado aquele com 15 dias ou mais de trabalho. "
    "O pagamento é em duas parcelas: a 1ª até 30 de novembro e a 2ª até 20 de dezembro."
)

_INTERN = re.compile(r"estagi")
_HOURS = re.compile(r"\b(\d{1,2})\s*(?:h|hs|hrs?|horas?)\b")
_HOURS_TALK = re.compile(r"\bhoras?\b|jornada|carga horaria|quanto tempo|\d\s*h")
_WEEKLY = re.compile(r"^[^.?!]{0,20}(?:semana|semanais|semanal)")
_REDUCED_LEVEL = re.compile(r"especial|fundamental|\beja\b")


def thirteenth_salary(message: str, ctx: ToolContext) -> ToolResult | None:
    """Proportional 13º: salary / 12 × months worked in the year."""
    folded = fold(message)
    named = _THIRTEENTH.search(folded)
    bare = _BARE_13.search(folded) if _SALARY_TALK.search(folded) else None
    mention = named or bare
    if mention is None:
        return None
    # Blank the "13" out so it can never be read as the salary.
    rest = message[: mention.start()] + " " * len(mention.group()) + message[mention.end() :]
    salary = find_brl_amount(rest)
    if salary is None:
        return ToolResult(
            "thirteenth_salary",
            f"O 13º proporcional é o salário ÷ 12 × meses trabalhados no ano. {_THIRTEENTH_RULE}",
        )
    months = _months_worked(folded)
    if months is None:
        per_month = (salary.value / 12).quantize(CENT, rounding=ROUND_HALF_UP)
        text = (
            f"Com o ano completo, o 13º de quem ganha {format_brl(salary.value)} é "
            f"{format_brl(salary.value)}; se trabalhou menos, são {format_brl(per_month)} "
            f"por mês trabalhado (salário ÷ 12). {_THIRTEENTH_RULE}"
        )
        return ToolResult("thirteenth_salary", text)
    capped = min(months, 12)
    value = (salary.value * capped / 12).quantize(CENT, rounding=ROUND_HALF_UP)
    cap_note = " (o 13º considera no máximo 12 meses)" if months > 12 else ""
    text = (
        f"13º proporcional: {format_brl(salary.value)} ÷ 12 × {capped} "
        f"{'mês' if capped == 1 else 'meses'}{cap_note} = {format_brl(value)} "
        f"(valor bruto, antes de INSS e IRRF). {_THIRTEENTH_RULE}"
    )
    return ToolResult("thirteenth_salary", text)


def intern_hours(message: str, ctx: ToolContext) -> ToolResult | None:
    """Whether an intern may work the hours asked, under Lei 11.788/2008, art. 10."""
    folded = fold(message)
    if not _INTERN.search(folded) or not _HOURS_TALK.search(folded):
        return None
    reduced = bool(_REDUCED_LEVEL.search(folded))
    daily, weekly = (4, 20) if reduced else (6, 30)
    rule = (
        "Pela Lei 11.788/2008 (art. 10), estudante de ensino superior, educação profissional "
        "ou ensino médio regular pode estagiar no máximo 6 h por dia e 30 h por semana; "
        "de educação especial ou anos finais do ensino fundamental, 4 h por dia e 20 h por "
        "semana. Passar do limite descaracteriza o estágio e pode gerar vínculo de emprego."
    )
    asked = _HOURS.search(folded)
    if asked is None:
        return ToolResult("intern_hours", rule)
    hours = int(asked.group(1))
    per_week = bool(_WEEKLY.match(folded[asked.end() :]))
    limit, unit = (weekly, "por semana") if per_week else (daily, "por dia")
    level = "educação especial/fundamental" if reduced else "ensino superior, técnico ou médio"
    verdict = (
        f"Sim: {hours} h {unit} está dentro do limite de {limit} h {unit} ({level})."
        if hours <= limit
        else f"Não: {hours} h {unit} passa do limite de {limit} h {unit} ({level})."
    )
    return ToolResult("intern_hours", f"{verdict} {rule}")


def _months_worked(folded: str) -> int | None:
    if match := _MONTHS.search(folded):
        token = match.group(1)
        return int(token) if token.isdigit() else _MONTH_WORDS[token]
    return 12 if _FULL_YEAR.search(folded) else None
