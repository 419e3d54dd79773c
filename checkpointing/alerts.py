"""The `alerts` table: each time a rule fired, its values and what became of its notice.

A rule has at most one open alert (`resolved_at IS NULL`, enforced by a partial unique
index): `open` returns the new row only to the caller whose INSERT made it, and only that
caller sends the notice, so two evaluators that ever overlap (a lease that expired under a
stalled worker, Redis down) still notify once.

`notice` says what happened to the notification: `pending` (not decided yet), `sent`,
`failed` (the webhook refused or timed out; retried while the alert stays open), `cooldown`
(the rule notified less than `cooldown_s` ago) or `off` (no webhook configured).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from checkpointing.sql import Database, as_datetime

Notice = Literal["pending", "sent", "failed", "cooldown", "off"]

_COLUMNS = (
    "id, rule_id, kind, fired_at, resolved_at, value, last_value, threshold, message, "
    "notice, notice_attempts, notified_at"
)


@dataclass(frozen=True)
class AlertRow:
    """One alert as stored."""

    id: int
    rule_id: str
    kind: str
    fired_at: datetime
    resolved_at: datetime | None
    value: Decimal  # when it fired
    last_value: Decimal  # the latest reading while open (at resolution, once resolved)
    threshold: Decimal
    message: str
    notice: Notice
    notice_attempts: int
    notified_at: datetime | None

    @property
    def active(self) -> bool:
        return self.resolved_at is None


class AlertStore:
    """Reads and writes `alerts` through the SQL seam."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def open(
        self,
        rule_id: str,
        kind: str,
        at: datetime,
        value: Decimal,
        threshold: Decimal,
        message: str,
    ) -> AlertRow | None:
        """A new open alert for `rule_id`; None when one is open already (someone else's)."""
        # fetchall in a transaction: every row of the RETURNING is read before COMMIT (a
        # half-stepped INSERT … RETURNING would hold SQLite's write lock open).
        async with self.db.transaction() as tx:
            rows = await tx.fetchall(
                f"INSERT INTO alerts (rule_id, kind, fired_at, value, last_value, threshold, "
                f"message, notice) VALUES (%s, %s, %s, %s, %s, %s, %s, 'pending') "
                f"ON CONFLICT DO NOTHING RETURNING {_COLUMNS}",
                (rule_id, kind, at, str(value), str(value), str(threshold), message),
            )
        return _row(rows[0]) if rows else None

    async def update(self, alert_id: int, value: Decimal) -> None:
        """The latest reading of an open alert."""
        await self.db.execute(
            "UPDATE alerts SET last_value = %s WHERE id = %s AND resolved_at IS NULL",
            (str(value), alert_id),
        )

    async def resolve(self, alert_id: int, at: datetime, value: Decimal | None) -> None:
        """Close an open alert (`value`: the reading that ended it; None: too few turns)."""
        if value is None:
            await self.db.execute(
                "UPDATE alerts SET resolved_at = %s WHERE id = %s AND resolved_at IS NULL",
                (at, alert_id),
            )
            return
        await self.db.execute(
            "UPDATE alerts SET resolved_at = %s, last_value = %s "
            "WHERE id = %s AND resolved_at IS NULL",
            (at, str(value), alert_id),
        )

    async def set_notice(self, alert_id: int, notice: Notice, at: datetime | None = None) -> None:
        """Record what became of the alert's notice (`at`: when it was sent)."""
        attempt = 1 if notice in ("sent", "failed") else 0
        await self.db.execute(
            "UPDATE alerts SET notice = %s, notified_at = %s, "
            "notice_attempts = notice_attempts + %s WHERE id = %s",
            (notice, at, attempt, alert_id),
        )

    async def last_notified(self, rule_id: str) -> datetime | None:
        """When `rule_id` last sent a notice (the cooldown counts from here)."""
        row = await self.db.fetchone(
            "SELECT MAX(notified_at) FROM alerts WHERE rule_id = %s AND notice = 'sent'",
            (rule_id,),
        )
        return None if row is None or row[0] is None else as_datetime(row[0])

    async def active(self) -> dict[str, AlertRow]:
        """The open alerts, by rule id."""
        async with self.db.transaction() as tx:
            rows = await tx.fetchall(
                f"SELECT {_COLUMNS} FROM alerts WHERE resolved_at IS NULL ORDER BY fired_at"
            )
        return {alert.rule_id: alert for alert in map(_row, rows)}

    async def recent(self, limit: int = 100) -> list[AlertRow]:
        """Open and past alerts, newest first."""
        async with self.db.transaction() as tx:
            rows = await tx.fetchall(
                f"SELECT {_COLUMNS} FROM alerts ORDER BY fired_at DESC, id DESC LIMIT %s",
                (limit,),
            )
        return [_row(row) for row in rows]


def _row(row: tuple[Any, ...]) -> AlertRow:
    return AlertRow(
        id=int(row[0]),
        rule_id=row[1],
        kind=row[2],
        fired_at=as_datetime(row[3]),
        resolved_at=None if row[4] is None else as_datetime(row[4]),
        value=Decimal(row[5]),
        last_value=Decimal(row[6]),
        threshold=Decimal(row[7]),
        message=row[8],
        notice=row[9],
        notice_attempts=int(row[10]),
        notified_at=None if row[11] is None else as_datetime(row[11]),
    )
