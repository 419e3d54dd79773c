"""Simples Nacional's monthly DAS (LC 123/2006 as amended by LC 155/2016) and the MEI's DAS.

Each annex has six brackets of revenue over the last twelve months (RBT12), each with a nominal
rate and an amount to deduct; the effective rate is (RBT12 × nominal − deduction) ÷ RBT12
(LC 123 art. 18 §1-A) and the DAS is the month's revenue times it, rounded half-up to centavos.
The DAS is computed as one exact fraction so no intermediate rounding can move a centavo.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Literal

__all__ = [
    "ANNEXES",
    "LIMIT",
    "MEI_TABLE",
    "Bracket",
    "DasResult",
    "MeiDas",
    "SimplesError",
    "mei_das",
    "simples_das",
]

Annex = Literal["I", "II", "III", "IV", "V"]
MeiActivity = Literal["comercio_industria", "servicos", "comercio_servicos"]

CENT = Decimal("0.01")
LIMIT = Decimal("4800000.00")  # LC 123 art. 3º, II: the EPP's ceiling, R$ 4,8 milhões a year
FATOR_R = Decimal("0.28")  # LC 123 art. 18 §5-J and §5-M: payroll ≥ 28 % of RBT12 → Annex III


@dataclass(frozen=True)
class Bracket:
    upper: Decimal  # RBT12 up to and including this amount
    rate: Decimal  # nominal rate as a fraction: 0.095 is 9,5 %
    deduction: Decimal  # "parcela a deduzir", in reais


def _table(*rows: tuple[str, str, str]) -> tuple[Bracket, ...]:
    return tuple(Bracket(Decimal(u), Decimal(r) / 100, Decimal(d)) for u, r, d in rows)


_UPPER = ("180000", "360000", "720000", "1800000", "3600000", "4800000")
# The Annexes I–V of LC 123/2006 in the wording of LC 155/2016 (in force since 1 January 2018):
# nominal rate (%) and deduction (R$) per bracket.
ANNEXES: dict[str, tuple[Bracket, ...]] = {
    "I": _table(  # comércio
        *zip(_UPPER, ("4.00", "7.30", "9.50", "10.70", "14.30", "19.00"),
             ("0", "5940", "13860", "22500", "87300", "378000"), strict=True)
    ),
    "II": _table(  # indústria
        *zip(_UPPER, ("4.50", "7.80", "10.00", "11.20", "14.70", "30.00"),
             ("0", "5940", "13860", "22500", "85500", "720000"), strict=True)
    ),
    "III": _table(  # serviços (and Annex V's services with Fator R ≥ 28 %)
        *zip(_UPPER, ("6.00", "11.20", "13.50", "16.00", "21.00", "33.00"),
             ("0", "9360", "17640", "35640", "125640", "648000"), strict=True)
    ),
    "IV": _table(  # serviços with the employer's INSS paid outside the DAS
        *zip(_UPPER, ("4.50", "9.00", "10.20", "14.00", "22.00", "33.00"),
             ("0", "8100", "12420", "39780", "183780", "828000"), strict=True)
    ),
    "V": _table(  # serviços intelectuais e técnicos with Fator R < 28 %
        *zip(_UPPER, ("15.50", "18.00", "19.50", "20.50", "23.00", "30.50"),
             ("0", "4500", "9900", "17100", "62100", "540000"), strict=True)
    ),
}  # fmt: skip


class SimplesError(ValueError):
    """An argument the law cannot compute with, naming the field (for a 422)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class DasResult:
    annex_applied: str
    bracket: int  # 1..6
    nominal_rate: Decimal  # fraction
    deduction: Decimal
    effective_rate: Decimal  # fraction, 28 significant digits
    das_amount: Decimal  # reais, half-up to centavos
    rbt12: Decimal  # the RBT12 the rate came from (proportional in the first 12 months)
    fator_r: Decimal | None  # payroll12 ÷ RBT12 when Annex V had a payroll to test


def simples_das(
    annex: str,
    rbt12: Decimal | None,
    month_revenue: Decimal,
    payroll12: Decimal | None = None,
    months_active: int | None = None,
    revenue_so_far: Decimal | None = None,
) -> DasResult:
    """The month's DAS for revenue taxed under `annex`.

    `months_active` counts the whole months of activity before the month being paid for: 0 in
    the first month, whose RBT12 is the month's revenue × 12; from 1 to 11 the RBT12 is the
    average of `revenue_so_far` (those months' total) × 12 — LC 123 art. 18 §2 and Resolução
    CGSN 140/2018 art. 22 §§2–3. From 12 on, `rbt12` is the last twelve months' revenue.
    `payroll12` is the payroll of the same period, annualised the same way in the first months.
    """
    if annex not in ANNEXES:
        raise SimplesError("annex", "anexo desconhecido: use I, II, III, IV ou V")
    for field, value in (
        ("rbt12", rbt12),
        ("month_revenue", month_revenue),
        ("payroll12", payroll12),
        ("revenue_so_far", revenue_so_far),
    ):
        if value is not None and value < 0:
            raise SimplesError(field, "o valor não pode ser negativo")
    if months_active is not None and months_active < 0:
        raise SimplesError("months_active", "o número de meses não pode ser negativo")
    used, field = _rbt12(rbt12, month_revenue, months_active, revenue_so_far)
    if used > Fraction(LIMIT):
        raise SimplesError(field, "acima do limite do Simples Nacional (R$ 4.800.000,00 por ano)")

    applied, fator_r = annex, None
    if annex == "V" and payroll12 is not None:
        # With no revenue yet any payroll is ≥ 28 % of it.
        fator_r = Fraction(payroll12) / used if used else None
        if fator_r is None or fator_r >= FATOR_R:
            applied = "III"
    number, bracket = next((i, b) for i, b in enumerate(ANNEXES[applied], 1) if used <= b.upper)
    if number == 1:
        effective = Fraction(bracket.rate)  # no deduction in the first bracket (nor RBT12 = 0)
    else:
        effective = (used * Fraction(bracket.rate) - Fraction(bracket.deduction)) / used
    das = _half_up_cents(Fraction(month_revenue) * effective)
    return DasResult(
        annex_applied=applied,
        bracket=number,
        nominal_rate=bracket.rate,
        deduction=bracket.deduction,
        effective_rate=_decimal(effective),
        das_amount=das,
        rbt12=_half_up_cents(used),
        fator_r=None if fator_r is None else _decimal(fator_r),
    )


def _rbt12(
    rbt12: Decimal | None,
    month_revenue: Decimal,
    months_active: int | None,
    revenue_so_far: Decimal | None,
) -> tuple[Fraction, str]:
    """The RBT12 to look up, exact, and the field it came from (for the error above the limit)."""
    if months_active is None or months_active >= 12:
        if rbt12 is None:
            raise SimplesError("rbt12", "informe a receita bruta dos últimos 12 meses")
        return Fraction(rbt12), "rbt12"
    if months_active == 0:
        return Fraction(month_revenue) * 12, "month_revenue"
    if revenue_so_far is None:
        raise SimplesError(
            "revenue_so_far", "nos primeiros 12 meses, informe a receita dos meses anteriores"
        )
    return Fraction(revenue_so_far) / months_active * 12, "revenue_so_far"


def _decimal(value: Fraction) -> Decimal:
    return Decimal(value.numerator) / Decimal(value.denominator)


def _half_up_cents(value: Fraction) -> Decimal:
    """Round an exact fraction of reais half-up to centavos (no float, no early rounding)."""
    cents, rest = divmod(abs(value) * 100, 1)
    cents += 1 if rest >= Fraction(1, 2) else 0
    return (Decimal(int(cents)) * CENT).copy_sign(Decimal(1 if value >= 0 else -1))


# The MEI pays a fixed DAS-MEI (LC 123 art. 18-A §3º, V): 5 % of the minimum wage for INSS
# (Lei 8.212/1991 art. 21 §2º, II, a), plus R$ 1,00 of ICMS for commerce and industry and
# R$ 5,00 of ISS for services.
@dataclass(frozen=True)
class MeiYear:
    minimum_wage: Decimal
    source: str


MEI_TABLE: dict[int, MeiYear] = {
    2024: MeiYear(Decimal("1412.00"), "Decreto nº 11.864/2023: salário mínimo de R$ 1.412,00"),
    2025: MeiYear(Decimal("1518.00"), "Decreto nº 12.342/2024: salário mínimo de R$ 1.518,00"),
    2026: MeiYear(Decimal("1621.00"), "Decreto nº 12.797/2025: salário mínimo de R$ 1.621,00"),
}
_MEI_ICMS = Decimal("1.00")
_MEI_ISS = Decimal("5.00")


@dataclass(frozen=True)
class MeiDas:
    year: int
    activity: str
    inss: Decimal
    icms: Decimal
    iss: Decimal
    total: Decimal
    source: str


def mei_das(activity: str, year: int) -> MeiDas:
    """The monthly DAS-MEI in `year` for the activity."""
    if activity not in ("comercio_industria", "servicos", "comercio_servicos"):
        raise SimplesError("activity", "use comercio_industria, servicos ou comercio_servicos")
    if year not in MEI_TABLE:
        known = ", ".join(str(y) for y in sorted(MEI_TABLE))
        raise SimplesError("year", f"sem tabela do MEI para {year} (tenho {known})")
    row = MEI_TABLE[year]
    inss = (row.minimum_wage * Decimal("0.05")).quantize(CENT, rounding=ROUND_HALF_UP)
    icms = _MEI_ICMS if activity in ("comercio_industria", "comercio_servicos") else Decimal(0)
    iss = _MEI_ISS if activity in ("servicos", "comercio_servicos") else Decimal(0)
    return MeiDas(year, activity, inss, icms, iss, inss + icms + iss, row.source)
