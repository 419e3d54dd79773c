"""The owner's business as Leo needs it (`business_profiles`) and the reminders already sent
(`obligation_reminders`), per user, through the SQL seam."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from checkpointing.sql import Database, utcnow

Regime = Literal["mei", "simples"]


@dataclass(frozen=True)
class BusinessProfile:
    user_id: str
    regime: Regime
    segment: str | None = None
    state: str | None = None  # UF, for state holidays
    employees: bool = False  # FGTS, INSS, eSocial, 13º apply
    reminders: bool = True  # due-date reminders on the owner's channel


class BusinessProfiles:
    """Read and write `business_profiles`; erase by user id."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, user_id: str) -> BusinessProfile | None:
        row = await self.db.fetchone(
            "SELECT user_id, regime, segment, state, employees, reminders "
            "FROM business_profiles WHERE user_id = %s",
            (user_id,),
        )
        return _profile(row) if row else None

    async def put(self, profile: BusinessProfile) -> None:
        """Create or replace the user's profile."""
        await self.db.execute(
            "INSERT INTO business_profiles (user_id, regime, segment, state, employees, "
            "reminders, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (user_id) DO UPDATE SET regime = excluded.regime, "
            "segment = excluded.segment, state = excluded.state, "
            "employees = excluded.employees, reminders = excluded.reminders, "
            "updated_at = excluded.updated_at",
            (
                profile.user_id,
                profile.regime,
                profile.segment,
                profile.state,
                profile.employees,
                profile.reminders,
                utcnow(),
            ),
        )

    async def with_reminders(self) -> list[BusinessProfile]:
        """Every profile that wants due-date reminders."""
        async with self.db.transaction() as tx:
            rows = await tx.fetchall(
                "SELECT user_id, regime, segment, state, employees, reminders "
                "FROM business_profiles WHERE reminders ORDER BY user_id"
            )
        return [_profile(row) for row in rows]

    async def delete_user(self, user_id: str) -> int:
        """LGPD erasure: the profile and its reminders."""
        await self.db.execute("DELETE FROM obligation_reminders WHERE user_id = %s", (user_id,))
        return await self.db.execute("DELETE FROM business_profiles WHERE user_id = %s", (user_id,))


class ReminderLog:
    """One row per reminder: claimed before it is sent, so it goes out once per obligation and
    period even when two workers look at the same moment."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def claim(self, user_id: str, code: str, period: str, due: date) -> bool:
        """True when this call is the first for (user, obligation, period)."""
        async with self.db.transaction() as tx:
            row = await tx.fetchone(
                "INSERT INTO obligation_reminders (user_id, code, period, due_date, outcome, "
                "sent_at) VALUES (%s, %s, %s, %s, 'claimed', %s) "
                "ON CONFLICT (user_id, code, period) DO NOTHING RETURNING user_id",
                (user_id, code, period, due.isoformat(), utcnow()),
            )
        return row is not None

    async def settle(
        self, user_id: str, code: str, period: str, channel: str | None, outcome: str
    ) -> None:
        """Record how the reminder went (`sent`, `no_channel`, `failed: …`)."""
        await self.db.execute(
            "UPDATE obligation_reminders SET channel = %s, outcome = %s "
            "WHERE user_id = %s AND code = %s AND period = %s",
            (channel, outcome[:200], user_id, code, period),
        )

    async def sent(self, user_id: str) -> list[tuple[str, str, str, str]]:
        """(code, period, channel, outcome) of the user's reminders, oldest first."""
        async with self.db.transaction() as tx:
            rows = await tx.fetchall(
                "SELECT code, period, channel, outcome FROM obligation_reminders "
                "WHERE user_id = %s ORDER BY sent_at, code",
                (user_id,),
            )
        return [(r[0], r[1], r[2], r[3]) for r in rows]


def _profile(row: tuple[object, ...]) -> BusinessProfile:
    return BusinessProfile(
        user_id=str(row[0]),
        regime=row[1],  # type: ignore[arg-type]
        segment=row[2],  # type: ignore[arg-type]
        state=row[3],  # type: ignore[arg-type]
        employees=bool(row[4]),
        reminders=bool(row[5]),
    )
