"""Brazilian-real amounts: reading them from an owner's Portuguese and writing them back.

Money is always Decimal: a float cannot hold R$ 0,10 exactly. Reading happens in two passes.
First every span that is a number but never money is blanked out — a CPF, CNPJ, phone number,
CEP, date, time, percentage or order number — so "meu CPF é 123.456.789-09" can no longer
become R$ 123.456.789,00. Then the remaining text is scanned for amounts written in digits
("R$ 1.500,00", "1,5 mil", "10k") or in words ("dois mil e quinhentos"), or in both ("2 mil e
500").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

__all__ = [
    "CENT",
    "AmountMatch",
    "find_amount",
    "find_amounts",
    "fold",
    "format_brl",
    "parse_amount",
]

CENT = Decimal("0.01")
_MONTHS = (
    "janeiro|fevereiro|marco|abril|maio|junho|julho|agosto|setembro|outubro|novembro|dezembro"
    "|jan|fev|mar|abr|mai|jun|jul|ago|set|out|nov|dez"
)
# Every span below has a digit within its first 30 characters: checking that once per position
# spares trying twenty alternatives far from any digit.
_NEAR_A_DIGIT = r"(?=[^\d]{0,30}\d)(?:"
# Spans that contain digits but are never money, blanked in two passes of one alternation each
# (twenty separate passes cost 60 µs a message). Identifiers go first, whole, so a phone after
# "nº" or "dia" is not cut in two by the second pass; within a pass the first alternative that
# matches at a position wins.
_IDENTIFIERS = re.compile(
    _NEAR_A_DIGIT
    + "|".join(
        f"(?:{p})"
        for p in (
            r"\b\d{3}\.\d{3}\.\d{3}-\d{2}\b",  # CPF 123.456.789-09
            # CNPJ 12.345.678/0001-95, alphanumeric too (12.ABC.345/01DE-35)
            r"\b[0-9a-z]{2}\.[0-9a-z]{3}\.[0-9a-z]{3}/[0-9a-z]{4}-\d{2}\b",
            r"\b(?=[0-9a-z]*\d)[0-9a-z]{12}\d{2}\b",  # bare 14-character CNPJ
            r"\+\s?55[\s\d().-]{8,}\d",  # +55 11 99999-8888
            r"\(\d{2}\)\s*9?\d{4}[-\s.]?\d{4}\b",  # (11) 99999-8888
            r"\b\d{2}\s?9?\d{4}-\d{4}\b",  # 11 99999-8888
            r"\b\d{2}\s9\d{4}\s\d{4}\b",  # 11 99999 8888
            r"\b9?\d{4}-\d{4}\b",  # 99999-8888
            r"\b\d{5}-\d{3}\b",  # CEP 50030-230
            r"\b\d{10,}\b",  # ten or more bare digits: a phone with DDD, a CPF, an account
        )
    )
    + ")",
    re.IGNORECASE,
)
_NOT_MONEY_CONTEXT = re.compile(
    _NEAR_A_DIGIT
    + "|".join(
        f"(?:{p})"
        for p in (
            r"\b\d{4}-\d{2}-\d{2}\b",  # 2026-11-30
            r"\b\d{1,2}/\d{1,2}(?:/\d{2,4})?\b",  # 30/11, 30/11/2026
            rf"\b\d{{1,2}}\s+de\s+(?:{_MONTHS})\b(?:\s+de\s+\d{{4}})?",  # 30 de novembro de 2026
            rf"\b(?:{_MONTHS})\s*(?:de\s+|/)?\d{{4}}\b",  # novembro de 2026, nov/2026
            r"\b(?:ano|anos|desde|em)\s+(?:de\s+)?(?:19|20)\d{2}\b(?!\s*(?:reais|real|mil)\b)",
            r"\b\d{1,2}:\d{2}(?::\d{2})?\b",  # 14:30
            r"\b\d{1,2}\s?h(?:s|rs?|oras?)?(?:\s?\d{2}(?:\s?min)?)?\b",  # 8h, 14h30, 8 horas
            r"\d+(?:[.,]\d+)?\s*(?:%|por\s*cento\b)",  # 10%, 2,5 por cento
            # Order, invoice and protocol numbers: "pedido 12345", "NF 123", "#123", "nº 55".
            # ("os" and "boleto" are left out: "paguei os 500", "boleto 150" are money.)
            r"(?:\b(?:pedidos?|ordem de servico|notas?\s+fiscal|nfe?|nfc-?e|protocolo|codigo"
            r"|cod|chamado|ticket|senha|matricula|numero|num)\b\.?"
            r"|\bn(?:\s?[º°]|o?\.)|#)\s*(?:n(?:\s?[º°]|o?\.)\s*|numero\s*|#\s*)?\d[\d.-]*",
            # Bank and card numbers have four digits or more: "agência 1234", "conta 12345-6".
            r"\b(?:conta|agencia|ag|cartao|cc)\.?\s*(?:n(?:\s?[º°]|o?\.)\s*)?\d{4,}(?:-[\dx])?",
        )
    )
    + ")",
    re.IGNORECASE,
)
_DIGIT = re.compile(r"\d")
_TOKEN = re.compile(r"r\s?\$|\d+(?:[.,]\d+)*|[a-z]+|[º°ª%#]")
_CURRENCY_AFTER = frozenset(["reais", "real", "conto", "contos", "pila", "pilas", "mangos"])
_PRICE_WORDS = frozenset(
    "por custa custou custando valor total ganha ganhando salario preco".split()
)
# Bare numbers right after these are days, times, counts or ordinals, not money.
_NOT_MONEY_BEFORE = frozenset(["dia", "dias", "as", "n", "numero", "#", "º", "°", "ª"])
_NOT_MONEY_AFTER = frozenset(
    "% h hs hr hrs hora horas min minuto minutos mes meses dia dias ano anos semana semanas "
    "vez vezes º ° ª unidade unidades pecas itens kg km ml litros".split()
)
# Only glued to the number: "1o", "2a", "3x" (ordinals, installments); apart they are words.
_NOT_MONEY_GLUED = frozenset(["o", "a", "x", "g", "m", "cm", "l"])
_UNITS = {
    "um": 1, "uma": 1, "dois": 2, "duas": 2, "tres": 3, "quatro": 4, "cinco": 5, "seis": 6,
    "sete": 7, "oito": 8, "nove": 9, "dez": 10, "onze": 11, "doze": 12, "treze": 13,
    "quatorze": 14, "catorze": 14, "quinze": 15, "dezesseis": 16, "dezasseis": 16,
    "dezessete": 17, "dezoito": 18, "dezenove": 19, "vinte": 20, "trinta": 30, "quarenta": 40,
    "cinquenta": 50, "sessenta": 60, "setenta": 70, "oitenta": 80, "noventa": 90, "cem": 100,
    "cento": 100, "duzentos": 200, "duzentas": 200, "trezentos": 300, "trezentas": 300,
    "quatrocentos": 400, "quatrocentas": 400, "quinhentos": 500, "quinhentas": 500,
    "seiscentos": 600, "seiscentas": 600, "setecentos": 700, "setecentas": 700,
    "oitocentos": 800, "oitocentas": 800, "novecentos": 900, "novecentas": 900,
}  # fmt: skip
_SCALES = {"mil": 1000, "k": 1000, "milhao": 1_000_000, "milhoes": 1_000_000, "mi": 1_000_000}


@dataclass(frozen=True)
class AmountMatch:
    """An amount and where it sits in the message, so callers can read the words around it.

    `marked` says the text itself calls it money (R$, reais, mil); `rank` orders candidates:
    2 marked, 1 after a price word ("por 500"), 0 a bare number.
    """

    value: Decimal
    start: int
    end: int
    rank: int = 0

    @property
    def marked(self) -> bool:
        return self.rank == 2


def format_brl(value: Decimal) -> str:
    """Format as Brazilians write money: Decimal('-1234.565') -> '-R$ 1.234,57'."""
    cents = Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)
    digits = f"{abs(cents):,.2f}".translate(str.maketrans(",.", ".,"))
    # Decimal('-0.00') is not < 0, so a rounded-away negative prints as R$ 0,00.
    return f"-R$ {digits}" if cents < 0 else f"R$ {digits}"


def fold(text: str) -> str:
    """Lower-case and strip accents one character at a time, keeping every index in place."""
    return "".join(unicodedata.normalize("NFD", ch)[0] for ch in text.lower())


def parse_amount(text: str) -> Decimal | None:
    """The money amount in a pt-BR message, in reais rounded to cents, or None."""
    match = find_amount(text)
    return match.value if match else None


def find_amount(text: str) -> AmountMatch | None:
    """The amount the owner means: a marked one first (the first of them), then one after a
    price word; among bare numbers the largest, because quantities are small next to prices."""
    candidates = find_amounts(text)
    if not candidates:
        return None
    best = max(c.rank for c in candidates)
    top = [c for c in candidates if c.rank == best]
    return top[0] if best > 0 else max(top, key=lambda c: c.value)


def find_amounts(text: str) -> list[AmountMatch]:
    """Every amount in the text, in order, with identifiers, dates and times left out."""
    folded = _blank_identifiers(fold(text))
    tokens = [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(folded)]
    found: list[AmountMatch] = []
    index = 0
    while index < len(tokens):
        parsed = _read_amount(tokens, index)
        if parsed is None:
            index += 1
            continue
        match, index = parsed
        found.append(match)
    return found


def _blank_identifiers(folded: str) -> str:
    if not _DIGIT.search(folded):
        return folded  # identifiers, dates and times all have digits
    for pattern in (_IDENTIFIERS, _NOT_MONEY_CONTEXT):
        folded = pattern.sub(lambda m: " " * len(m.group()), folded)
    return folded


def _read_amount(tokens: list[tuple[str, int, int]], start: int) -> tuple[AmountMatch, int] | None:
    """An amount phrase beginning at tokens[start] (an optional R$, a number, scales and
    'e'-joined parts, an optional 'reais'), and the index after it; None if none starts here."""
    index = start
    currency_before = tokens[index][0].startswith("r") and tokens[index][0].endswith("$")
    if currency_before:
        index += 1
    if index >= len(tokens) or not _starts_number(tokens[index][0]):
        return None
    first_is_word = not tokens[index][0][0].isdigit()
    total, current, last = Decimal(0), Decimal(0), None
    scaled = joining = False
    end = tokens[index][2]
    while index < len(tokens):
        word, word_start, word_end = tokens[index]
        value = _number(word)
        if word in _SCALES:
            glued = index > 0 and word_start == tokens[index - 1][2]
            if word in ("k", "mi") and not (last is not None and glued):
                break  # "10k", "2mi" are glued; a lone "k" or "mi" is a letter or a word
            if last is None and word not in ("mil", "milhao", "milhoes"):
                break
            current = (current or Decimal(1)) * _SCALES[word]
            total, current, last, scaled = total + current, Decimal(0), Decimal(_SCALES[word]), True
        elif value is not None and last is None:
            current = last = value
        elif value is not None and (joining or (word in _UNITS and value < last)):
            current, last = current + value, value  # "mil e duzentos", "vinte e cinco"
        elif word == "e" and last is not None and index + 1 < len(tokens):
            following = _number(tokens[index + 1][0])
            # Digits join only after a scale ("2 mil e 500"): "100 e 50" are two numbers.
            joining = (
                following is not None
                and following < last
                and (tokens[index + 1][0] in _UNITS or scaled)
            )
            if not joining:
                break
            index += 1
            continue
        else:
            break
        joining = False
        end = word_end
        index += 1
    value = total + current
    marked = currency_before or scaled
    if _currency_at(tokens, index):
        end, index, marked = tokens[index][2], index + 1, True
        if cents := _cents_at(tokens, index):
            value += cents[0]
            end, index = cents[1], cents[2]
    if first_is_word and not marked and value < 100:
        return None  # "um bolo", "vinte e poucos": small number words are counts, not money
    if not marked and _counted_or_dated(tokens, start, index):
        return None
    before = tokens[start - 1][0] if start > 0 else ""
    rank = 2 if marked else 1 if before in _PRICE_WORDS else 0
    cents_value = value.quantize(CENT, rounding=ROUND_HALF_UP)
    return AmountMatch(cents_value, tokens[start][1], end, rank), index


def _starts_number(token: str) -> bool:
    return _number(token) is not None or token in ("mil", "milhao", "milhoes")


def _counted_or_dated(tokens: list[tuple[str, int, int]], start: int, after: int) -> bool:
    """A bare number that is a day, an hour, a count or an ordinal ("dia 5", "3 meses", "2x")."""
    if start > 0 and tokens[start - 1][0] in _NOT_MONEY_BEFORE:
        return True
    if after >= len(tokens):
        return False
    word, word_start, _ = tokens[after]
    glued = word_start == tokens[after - 1][2]
    if word in ("dia", "dias") and after + 1 < len(tokens) and tokens[after + 1][0][0].isdigit():
        return False  # "2.500 dia 5": the day is the next number, this one is money
    return word in _NOT_MONEY_AFTER or (glued and word in _NOT_MONEY_GLUED)


def _currency_at(tokens: list[tuple[str, int, int]], index: int) -> bool:
    return index < len(tokens) and tokens[index][0] in _CURRENCY_AFTER


def _cents_at(tokens: list[tuple[str, int, int]], index: int) -> tuple[Decimal, int, int] | None:
    """' e 50 centavos' after 'reais': the cents, where they end, and the next index."""
    if index + 2 < len(tokens) and tokens[index][0] == "e" and tokens[index + 2][0] == "centavos":
        cents = _number(tokens[index + 1][0])
        if cents is not None and cents < 100:
            return cents / 100, tokens[index + 2][2], index + 3
    return None


def _number(token: str) -> Decimal | None:
    if token in _UNITS:
        return Decimal(_UNITS[token])
    if token[0].isdigit():
        return _digits_to_decimal(token)
    return None


def _digits_to_decimal(raw: str) -> Decimal | None:
    """Read '1.500', '1.500,50', '1,5', '1500.00', '1.2' the way a Brazilian owner means them."""
    try:
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
    except InvalidOperation:
        return None
