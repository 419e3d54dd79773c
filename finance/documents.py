"""CPF and CNPJ: check digits, formatting and validation, including the alphanumeric CNPJ.

Both use the modulo-11 scheme of the Receita Federal: each check digit is 11 minus the weighted
sum's remainder, or 0 when the remainder is 0 or 1. From July 2026 a CNPJ's first twelve
characters may be letters (Instrução Normativa RFB 2.229/2024); every character then counts as
its ASCII code minus 48, so digits keep their values and 'A' is 17 — the Receita's published
example is 12.ABC.345/01DE-35. The check digits stay numeric.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

DocumentType = Literal["cpf", "cnpj"]

_CPF_WEIGHTS = (range(10, 1, -1), range(11, 1, -1))
_CNPJ_FIRST = (5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
_CNPJ_WEIGHTS = (_CNPJ_FIRST, (6, *_CNPJ_FIRST))
# What people type around the characters: dots, dashes, slashes, spaces.
_SEPARATORS = re.compile(r"[\s./-]")
_CPF_SHAPE = re.compile(r"\d{11}")
_CNPJ_SHAPE = re.compile(r"[0-9A-Z]{12}\d{2}")


@dataclass(frozen=True)
class Document:
    """A number read as a CPF or CNPJ: its type, digits without punctuation, and validity."""

    type: DocumentType
    digits: str
    valid: bool

    @property
    def formatted(self) -> str:
        return format_cpf(self.digits) if self.type == "cpf" else format_cnpj(self.digits)


def _check_digit(values: list[int], weights: tuple[int, ...] | range) -> int:
    remainder = sum(v * w for v, w in zip(values, weights, strict=True)) % 11
    return 0 if remainder < 2 else 11 - remainder


def cpf_check_digits(base: str) -> str:
    """The two check digits of a CPF's nine-digit base."""
    if not re.fullmatch(r"\d{9}", base):
        raise ValueError("a base do CPF tem 9 dígitos")
    values = [int(c) for c in base]
    first = _check_digit(values, _CPF_WEIGHTS[0])
    second = _check_digit([*values, first], _CPF_WEIGHTS[1])
    return f"{first}{second}"


def cnpj_check_digits(base: str) -> str:
    """The two check digits of a CNPJ's twelve-character base (digits or capital letters)."""
    if not re.fullmatch(r"[0-9A-Z]{12}", base):
        raise ValueError("a base do CNPJ tem 12 caracteres (números ou letras maiúsculas)")
    values = [ord(c) - 48 for c in base]
    first = _check_digit(values, _CNPJ_WEIGHTS[0])
    second = _check_digit([*values, first], _CNPJ_WEIGHTS[1])
    return f"{first}{second}"


def is_valid_cpf(number: str) -> bool:
    digits = _SEPARATORS.sub("", number)
    if not _CPF_SHAPE.fullmatch(digits) or len(set(digits)) == 1:
        # 000.000.000-00 … 999.999.999-99 pass the arithmetic but are never issued.
        return False
    return cpf_check_digits(digits[:9]) == digits[9:]


def is_valid_cnpj(number: str) -> bool:
    chars = _SEPARATORS.sub("", number).upper()
    if not _CNPJ_SHAPE.fullmatch(chars) or len(set(chars)) == 1:
        return False
    return cnpj_check_digits(chars[:12]) == chars[12:]


def format_cpf(digits: str) -> str:
    """'52998224725' → '529.982.247-25'."""
    return f"{digits[:3]}.{digits[3:6]}.{digits[6:9]}-{digits[9:]}"


def format_cnpj(chars: str) -> str:
    """'12ABC34501DE35' → '12.ABC.345/01DE-35'."""
    return f"{chars[:2]}.{chars[2:5]}.{chars[5:8]}/{chars[8:12]}-{chars[12:]}"


def validate_document(number: str) -> Document:
    """Classify by length (11 → CPF, 14 → CNPJ) and check; `ValueError` for anything else."""
    chars = _SEPARATORS.sub("", number.strip()).upper()
    if _CPF_SHAPE.fullmatch(chars):
        return Document("cpf", chars, is_valid_cpf(chars))
    if len(chars) == 14 and re.fullmatch(r"[0-9A-Z]+", chars):
        return Document("cnpj", chars, is_valid_cnpj(chars))
    raise ValueError("um CPF tem 11 dígitos e um CNPJ tem 14 caracteres")
