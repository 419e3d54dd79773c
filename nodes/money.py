"""Brazilian-real amounts: formatting and finding the amount in an owner's message.

Money is always Decimal: a float cannot hold R$ 0,10 exactly, and cents that drift are the one
bug a finance assistant cannot have.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")

# A run of digits with its separators and any date/time glue, so "30/11" and "8:30" arrive
# whole and can be discarded whole instead of yielding a stray "30".
_NUMBER = re.compile(r"\d+(?:[.,/:]\d+)*")
_CURRENCY_BEFORE = re.compile(r"r\s?\$\s*$")
_PRICE_WORD_BEFORE = re.compile(r"\b(?:por|custa|custou|valor|total|ganha|ganhando|salario)\s+$")
# Numbers that are days, hours, counts or ordinals, not money.
_NOT_MONEY_BEFORE = re.compile(r"\b(?:dia|dias|as|n|numero)\.?\s+$|[º°ª#]\s*$")
_NOT_MONEY_AFTER = re.compile(
    r"^(?:\s*(?:%|por\s*cento\b|h\b|hs\b|hrs?\b|h\d|horas?\b|min\b|minutos?\b|mes\b|meses\b"
    r"|dias?\b(?!\s*\d)|anos?\b|semanas?\b|vezes\b|x\b)|[ºª°]|[oa]\b)"
)
_MULTIPLIER_AFTER = re.compile(r"^\s*(mil\b|k\b|milhao\b|milhoes\b|mi\b)")
_CURRENCY_AFTER = re.compile(r"^\s*(?:reais|real|contos?|pilas?)\b")


@dataclass(frozen=True)
class AmountMatch:
    """An amount and where it sits in the message, so callers can read the words around it."""

    value: Decimal
    start: int
    end: int


def format_brl(value: Decimal) -> str:
    """Format as Brazilians write money: Decimal('-1234.565') -> '-R$ 1.234,57'."""
    cents = Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)
    digits = f"{abs(cents):,.2f}".translate(str.maketrans(",.", ".,"))
    # Decimal('-0.00') is not < 0, so a rounded-away negative prints as R$ 0,00.
    return f"-R$ {digits}" if cents < 0 else f"R$ {digits}"


def fold(text: str) -> str:
    """Lower-case and strip accents one character at a time, keeping every index in place."""
    return "".join(unicodedata.normalize("NFD", ch)[0] for ch in text.lower())


def parse_brl_amount(text: str) -> Decimal | None:
    """The money amount in a pt-BR message, in reais rounded to cents, or None."""
    match = find_brl_amount(text)
    return match.value if match else None


def find_brl_amount(text: str) -> AmountMatch | None:
    """Locate the money amount in a message such as 'paguei R$ 1.500,50 de luz dia 28/11'.

    A number marked as money (R$, reais, mil) wins; then one after a price word ('por 500');
    otherwise the largest bare number, because owners' quantities are small next to prices.
    """
    folded = fold(text)
    candidates: list[tuple[int, Decimal, AmountMatch]] = []
    for number in _NUMBER.finditer(folded):
        raw, before = number.group(), folded[: number.start()]
        after = folded[number.end() :]
        value = None if "/" in raw or ":" in raw else _to_decimal(raw)
        if value is None:
            continue
        end = number.end()
        currency_before = _CURRENCY_BEFORE.search(before)
        marked = currency_before is not None
        if not marked and (_NOT_MONEY_BEFORE.search(before) or _NOT_MONEY_AFTER.match(after)):
            continue
        if multiplier := _MULTIPLIER_AFTER.match(after):
            value *= 1000 if multiplier.group(1) in ("mil", "k") else 1_000_000
            end += multiplier.end()
            marked = True
        if currency := _CURRENCY_AFTER.match(folded[end:]):
            end += currency.end()
            marked = True
        rank = 2 if marked else 1 if _PRICE_WORD_BEFORE.search(before) else 0
        start = currency_before.start() if currency_before else number.start()
        cents = value.quantize(CENT, rounding=ROUND_HALF_UP)
        candidates.append((rank, cents, AmountMatch(cents, start, end)))
    if not candidates:
        return None
    best_rank = max(rank for rank, _, _ in candidates)
    top = [c for c in candidates if c[0] == best_rank]
    # Among equally marked amounts the first is what the owner led with; among bare numbers
    # the largest is the price (see docstring).
    chosen = top[0] if best_rank > 0 else max(top, key=lambda c: c[1])
    return chosen[2]


def _to_decimal(raw: str) -> Decimal | None:
    """Read '1.500', '1.500,50', '1,5', '1500.00' the way a Brazilian owner means them."""
    if "," in raw and "." in raw:
        decimal_sep = "," if raw.rfind(",") > raw.rfind(".") else "."
        integer, _, fraction = raw.rpartition(decimal_sep)
        integer = integer.replace(".", "").replace(",", "")
        return Decimal(f"{integer}.{fraction}") if len(fraction) <= 2 else None
    for sep in (".", ","):
        if sep in raw:
            head, *groups = raw.split(sep)
            # Groups of exactly three digits are thousands ("1.500"); cents never have three.
            if all(len(group) == 3 for group in groups) and 0 < int(head) < 1000:
                return Decimal(head + "".join(groups))
            if len(groups) == 1 and len(groups[0]) <= 2:
                return Decimal(f"{head}.{groups[0]}")
            return None
    return Decimal(raw)
