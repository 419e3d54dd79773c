"""Leo's cash book (`ledger_entries`): a user's incomes and expenses, summed by month.

Per user, not per thread: the owner's cash is the same whichever door they write through.
Amounts are integer centavos in the table (exact on both dialects) and `Decimal` outside it.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from checkpointing.sql import Database, utcnow

Kind = Literal["income", "expense"]
_CENTS = Decimal(100)


@dataclass(frozen=True)
class LedgerEntry:
    id: int
    user_id: str
    kind: Kind
    amount: Decimal
    entry_date: date
    category: str
    description: str
    source: dict[str, Any]


@dataclass(frozen=True)
class MonthSummary:
    income: Decimal
    expense: Decimal
    by_category: dict[str, Decimal]  # expenses negative would confuse: both kinds as positive
    entries: int

    @property
    def balance(self) -> Decimal:
        return self.income - self.expense


def to_cents(amount: Decimal) -> int:
    """Reais to centavos; the amount must already be rounded to centavos."""
    cents = amount * _CENTS
    if cents != cents.to_integral_value():
        raise ValueError(f"{amount} has fractions of a centavo")
    return int(cents)


class LedgerStore:
    """The `ledger_entries` table through the SQL seam (Postgres, or the embedded SQLite)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(
        self,
        user_id: str,
        kind: Kind,
        amount: Decimal,
        entry_date: date,
        category: str,
        description: str,
        source: dict[str, Any],
    ) -> int:
        """Record one entry; its id."""
        async with self.db.transaction() as tx:
            row = await tx.fetchone(
                "INSERT INTO ledger_entries (user_id, kind, amount_cents, entry_date, category, "
                "description, source, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                "RETURNING id",
                (
                    user_id,
                    kind,
                    to_cents(amount),
                    entry_date.isoformat(),
                    category,
                    description,
                    json.dumps(source, ensure_ascii=False, sort_keys=True),
                    utcnow(),
                ),
            )
        assert row is not None
        return int(row[0])

    async def month(self, user_id: str, month: str) -> list[LedgerEntry]:
        """The user's entries of `month` (`YYYY-MM`), oldest first."""
        async with self.db.transaction() as tx:
            rows = await tx.fetchall(
                "SELECT id, user_id, kind, amount_cents, entry_date, category, description, "
                "source FROM ledger_entries WHERE user_id = %s AND entry_date LIKE %s "
                "ORDER BY entry_date, id",
                (user_id, f"{month}-%"),
            )
        return [_entry(row) for row in rows]

    async def summary(self, user_id: str, month: str) -> MonthSummary:
        """Income, expense and totals per category for `month` (`YYYY-MM`)."""
        async with self.db.transaction() as tx:
            rows = await tx.fetchall(
                "SELECT kind, category, SUM(amount_cents), COUNT(*) FROM ledger_entries "
                "WHERE user_id = %s AND entry_date LIKE %s GROUP BY kind, category "
                "ORDER BY kind, category",
                (user_id, f"{month}-%"),
            )
        totals = {"income": Decimal(0), "expense": Decimal(0)}
        by_category: dict[str, Decimal] = {}
        count = 0
        for kind, category, cents, n in rows:
            value = Decimal(int(cents)).scaleb(-2)
            totals[kind] += value
            by_category[category] = by_category.get(category, Decimal(0)) + value
            count += int(n)
        return MonthSummary(totals["income"], totals["expense"], by_category, count)

    async def delete_user(self, user_id: str) -> int:
        """Erase a user's cash book (LGPD erasure reaches every store by user id)."""
        return await self.db.execute("DELETE FROM ledger_entries WHERE user_id = %s", (user_id,))


def entries_csv(entries: list[LedgerEntry]) -> str:
    """A month as CSV for a spreadsheet: Brazilian dates, decimal amounts, kind in Portuguese."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["data", "tipo", "valor", "categoria", "descricao", "origem"])
    for e in entries:
        writer.writerow(
            [
                e.entry_date.strftime("%d/%m/%Y"),
                "receita" if e.kind == "income" else "despesa",
                f"{e.amount:.2f}",
                e.category,
                e.description,
                e.source.get("type", ""),
            ]
        )
    return out.getvalue()


def _entry(row: tuple[Any, ...]) -> LedgerEntry:
    return LedgerEntry(
        id=int(row[0]),
        user_id=row[1],
        kind=row[2],
        amount=Decimal(int(row[3])).scaleb(-2),
        entry_date=date.fromisoformat(row[4]),
        category=row[5],
        description=row[6],
        source=json.loads(row[7]),
    )
