"""The one rule for ids a client hands us (thread, user, sender, fact ids), checked at the edge.

An id ends up in SQL text columns, Redis keys, log lines and response headers. Postgres refuses
a NUL in text (a DataError deep in a transaction), a line break or an ANSI escape forges log
lines, `..` reads like a path. So an id is 1..128 printable characters (`str.isprintable`: no
control, format or line/paragraph separator characters, no space other than U+0020), with no
space at either end and no `..`. Fact ids are decimal integers that fit Postgres' and SQLite's
signed 64-bit INTEGER.
"""

from __future__ import annotations

import re

__all__ = ["MAX_FACT_ID_DIGITS", "MAX_ID_CHARS", "InvalidId", "check_id", "parse_fact_id"]

MAX_ID_CHARS = 128
# 18 digits stay below 2**63 - 1 (19 digits); `str.isdigit` would also accept '²' and '٣'.
MAX_FACT_ID_DIGITS = 18
_FACT_ID = re.compile(rf"[0-9]{{1,{MAX_FACT_ID_DIGITS}}}")


class InvalidId(ValueError):
    """An id breaks the rule; `message` is for the user (pt-BR) and names the field."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        self.message = f"O identificador '{field}' é inválido: {reason}."
        super().__init__(self.message)


def check_id(value: object, field: str = "id") -> str:
    """`value` if it is a valid id, else `InvalidId` naming `field` and what is wrong."""
    if not isinstance(value, str):
        raise InvalidId(field, "precisa ser um texto")
    if not value:
        raise InvalidId(field, "está vazio")
    if len(value) > MAX_ID_CHARS:
        raise InvalidId(field, f"tem {len(value)} caracteres; o limite é {MAX_ID_CHARS}")
    if not value.isprintable():
        raise InvalidId(field, "tem caracteres de controle ou invisíveis")
    if value != value.strip():
        raise InvalidId(field, "tem espaço no começo ou no fim")
    if ".." in value:
        raise InvalidId(field, "não pode conter '..'")
    return value


def parse_fact_id(raw: str) -> int | None:
    """The fact id in `raw` (ASCII digits, within int64), or None when it cannot name a fact."""
    return int(raw) if _FACT_ID.fullmatch(raw) else None
