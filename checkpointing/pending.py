"""The user's message of a turn still being answered, kept durable before the reply starts.

With `sessions.durability: exit` LangGraph writes a turn's checkpoint once, when the turn ends,
so a process killed mid-reply (kill -9, OOM) would lose the message. One small row per thread
closes that gap: `begin` writes it as the turn starts (one statement, one round trip) and hands
back the previous turn's row if that turn never finished; `finish` deletes it after the turn's
checkpoint is written. The next turn on the thread (after a restart, or after a takeover of a
stalled worker's lock) folds the unfinished message in, marked, so nothing is lost and no
message sits unanswered; `GET /v1/threads/{id}` shows it meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from checkpointing.sql import Database, as_datetime, utcnow


@dataclass(frozen=True)
class PendingTurn:
    thread_id: str
    turn_id: str  # also the id of the turn's HumanMessage in the checkpoint
    message: str
    user_id: str | None
    channel: str
    started_at: datetime


# Every part of a WITH sees the same snapshot, so `old` is the row before the upsert; the
# upsert runs to completion whether or not anything reads it. (A `FOR UPDATE` on `old`, or
# reading it from RETURNING, would miss the row the same statement just changed.) Two begins on
# one thread never race: the thread's lock is held.
_BEGIN_PG = """
WITH old AS (
    SELECT turn_id, message, user_id, channel, started_at FROM pending_turns
    WHERE thread_id = %s
), upsert AS (
    INSERT INTO pending_turns (thread_id, turn_id, message, user_id, channel, started_at)
    VALUES (%s, %s, %s, %s, %s, %s)
    ON CONFLICT (thread_id) DO UPDATE SET turn_id = EXCLUDED.turn_id,
        message = EXCLUDED.message, user_id = EXCLUDED.user_id, channel = EXCLUDED.channel,
        started_at = EXCLUDED.started_at
)
SELECT turn_id, message, user_id, channel, started_at FROM old
"""
_SELECT = (
    "SELECT turn_id, message, user_id, channel, started_at FROM pending_turns WHERE thread_id = %s"
)
_UPSERT_LITE = (
    "INSERT OR REPLACE INTO pending_turns "
    "(thread_id, turn_id, message, user_id, channel, started_at) VALUES (%s, %s, %s, %s, %s, %s)"
)


class PendingTurns:
    """`pending_turns` on the service's database (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def begin(
        self, thread_id: str, turn_id: str, message: str, user_id: str | None, channel: str
    ) -> PendingTurn | None:
        """Record this turn's message; the thread's previous turn if it never finished."""
        row: tuple | None
        values = (thread_id, turn_id, message, user_id, channel, utcnow())
        if self.db.dialect == "postgres":  # one statement: atomic without BEGIN/COMMIT
            row = await self.db.fetchone(_BEGIN_PG, (thread_id, *values))
        else:  # two statements, no transaction needed: the thread's lock is held
            row = await self.db.fetchone(_SELECT, (thread_id,))
            await self.db.execute(_UPSERT_LITE, values)
        return _pending(thread_id, row)

    async def finish(self, thread_id: str, turn_id: str) -> None:
        """The turn's checkpoint is written: its row is no longer needed."""
        await self.db.execute(
            "DELETE FROM pending_turns WHERE thread_id = %s AND turn_id = %s", (thread_id, turn_id)
        )

    async def get(self, thread_id: str) -> PendingTurn | None:
        """The turn on this thread that has not finished (running now, or cut by a crash)."""
        return _pending(thread_id, await self.db.fetchone(_SELECT, (thread_id,)))


def _pending(thread_id: str, row: tuple | None) -> PendingTurn | None:
    if row is None or row[0] is None:
        return None
    return PendingTurn(thread_id, row[0], row[1], row[2], row[3], as_datetime(row[4]))
