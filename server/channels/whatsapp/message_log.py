"""The WhatsApp message log: the `whatsapp_messages` table (migration 3), through the SQL seam.

One row per message, keyed by Meta's id (`wamid`), in either direction:

- inbound (`direction = 'in'`): written when the webhook is accepted, before the 200, so an
  accepted message survives a restart. `INSERT … ON CONFLICT DO NOTHING` makes a replayed
  delivery a no-op: only the first insert hands the message to the processor. Its `state`:
  `received` → `processing` (claimed, with a lease) → `answered` | `merged` (answered with the
  burst it joined) | `ignored` (needs no answer) | `failed` (gave up after `max_attempts`).
  A claim is one conditional UPDATE, so of two workers only one wins a message; a claim whose
  lease ran out (its worker died) can be taken again.
- outbound (`direction = 'out'`): each message we sent, with Meta's delivery `status`
  (sent → delivered → read, or failed), which only moves forward: statuses arrive out of order
  and may arrive before the send's own row is written (then they create it).

The user's latest inbound `sent_at` is the start of the 24-hour window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from checkpointing.sql import Database, as_datetime, utcnow
from server.channels.whatsapp.payload import Events, Inbound

_RANK = (
    "CASE {} WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2 WHEN 'read' THEN 3 "
    "WHEN 'failed' THEN 4 ELSE 0 END"
)
KNOWN_STATUSES = frozenset({"sent", "delivered", "read", "failed"})

_INSERT_INBOUND = (
    "INSERT INTO whatsapp_messages (wamid, direction, phone_number_id, wa_id, kind, body, "
    "payload, sent_at, received_at, state, updated_at) "
    "VALUES (%s, 'in', %s, %s, %s, %s, %s, %s, %s, 'received', %s) "
    "ON CONFLICT (wamid) DO NOTHING"
)
_UPSERT_STATUS = (
    "INSERT INTO whatsapp_messages (wamid, direction, phone_number_id, wa_id, kind, "
    "received_at, status, status_at, error, updated_at) "
    "VALUES (%s, 'out', %s, %s, 'unknown', %s, %s, %s, %s, %s) "
    "ON CONFLICT (wamid) DO UPDATE SET status = excluded.status, status_at = excluded.status_at, "
    "error = COALESCE(excluded.error, whatsapp_messages.error), updated_at = excluded.updated_at "
    f"WHERE whatsapp_messages.direction = 'out' AND {_RANK.format('whatsapp_messages.status')} "
    f"< {_RANK.format('excluded.status')}"
)
_UPSERT_OUTBOUND = (
    "INSERT INTO whatsapp_messages (wamid, direction, phone_number_id, wa_id, kind, body, "
    "sent_at, received_at, reply_to, updated_at) "
    "VALUES (%s, 'out', %s, %s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (wamid) DO UPDATE SET kind = excluded.kind, body = excluded.body, "
    "sent_at = excluded.sent_at, reply_to = excluded.reply_to"
)
# Claimable: never claimed, or claimed by a worker whose lease ran out.
_CLAIMABLE = (
    "direction = 'in' AND attempts < %s AND (state = 'received' OR "
    "(state = 'processing' AND lease_until < %s))"
)


@dataclass(frozen=True)
class Claimed:
    """An inbound message this worker now owns until `lease_until`."""

    wamid: str
    phone_number_id: str
    wa_id: str
    kind: str
    text: str | None
    sent_at: datetime
    received_at: datetime
    attempts: int


class MessageLog:
    """The table's operations; every one is a single statement or one short transaction."""

    def __init__(self, db: Database, *, max_attempts: int = 3) -> None:
        self.db = db
        self.max_attempts = max_attempts

    async def record(self, events: Events, received_at: datetime) -> list[Inbound]:
        """Write the webhook's messages and statuses; the messages seen for the first time."""
        new: list[Inbound] = []
        async with self.db.transaction() as tx:
            for m in events.messages:
                inserted = await tx.execute(
                    _INSERT_INBOUND,
                    (
                        m.wamid,
                        m.phone_number_id,
                        m.wa_id,
                        m.kind,
                        m.text,
                        m.raw.decode(),
                        m.sent_at,
                        received_at,
                        received_at,
                    ),
                )
                if inserted == 1:
                    new.append(m)
            for s in events.statuses:
                if s.status not in KNOWN_STATUSES:
                    continue
                await tx.execute(
                    _UPSERT_STATUS,
                    (
                        s.wamid,
                        s.phone_number_id,
                        s.wa_id,
                        received_at,
                        s.status,
                        s.at,
                        s.error,
                        received_at,
                    ),
                )
        return new

    async def claimable(self, limit: int = 100) -> list[str]:
        """Inbound messages nobody is answering now, oldest first (the recovery sweep)."""
        async with self.db.transaction() as tx:
            rows = await tx.fetchall(
                f"SELECT wamid FROM whatsapp_messages WHERE {_CLAIMABLE} "
                "ORDER BY received_at LIMIT %s",
                (self.max_attempts, utcnow(), limit),
            )
        return [row[0] for row in rows]

    async def claim(self, wamid: str, lease_s: float) -> Claimed | None:
        """Take the message for `lease_s` seconds; None when another worker has it or it is
        done. The conditional UPDATE is the whole decision, so two claimers cannot both win."""
        now = utcnow()
        async with self.db.transaction() as tx:
            won = await tx.execute(
                "UPDATE whatsapp_messages SET state = 'processing', lease_until = %s, "
                f"attempts = attempts + 1, updated_at = %s WHERE wamid = %s AND {_CLAIMABLE}",
                (now + timedelta(seconds=lease_s), now, wamid, self.max_attempts, now),
            )
            if won != 1:
                return None
            row = await tx.fetchone(
                "SELECT phone_number_id, wa_id, kind, body, sent_at, received_at, attempts "
                "FROM whatsapp_messages WHERE wamid = %s",
                (wamid,),
            )
        assert row is not None
        number, wa_id, kind, body, sent_at, received_at, attempts = row
        return Claimed(
            wamid,
            number,
            wa_id,
            kind,
            body,
            as_datetime(sent_at or received_at),
            as_datetime(received_at),
            int(attempts),
        )

    async def finish(self, wamid: str, state: str, error: str | None = None) -> None:
        """The message is done: `answered`, `merged` or `ignored`."""
        await self.db.execute(
            "UPDATE whatsapp_messages SET state = %s, lease_until = NULL, error = %s, "
            "updated_at = %s WHERE wamid = %s",
            (state, error, utcnow(), wamid),
        )

    async def fail(self, wamid: str, error: str) -> None:
        """Processing raised: claimable again by the next sweep, or `failed` for good once it
        has used its attempts."""
        await self.db.execute(
            "UPDATE whatsapp_messages SET state = CASE WHEN attempts >= %s THEN 'failed' "
            "ELSE 'received' END, lease_until = NULL, error = %s, updated_at = %s "
            "WHERE wamid = %s",
            (self.max_attempts, error[:2000], utcnow(), wamid),
        )

    async def release(self, wamid: str) -> None:
        """Give a claimed message back unanswered (a shutdown stopped it): the next start, or
        another worker's sweep, answers it without counting this as a failed attempt."""
        await self.db.execute(
            "UPDATE whatsapp_messages SET state = 'received', lease_until = NULL, "
            "attempts = attempts - 1, updated_at = %s "
            "WHERE wamid = %s AND state = 'processing'",
            (utcnow(), wamid),
        )

    async def record_outbound(
        self,
        wamid: str,
        phone_number_id: str,
        wa_id: str,
        kind: str,
        body: str | None,
        reply_to: str | None,
    ) -> None:
        """A message the Graph API accepted (its delivery status may already be here)."""
        now = utcnow()
        await self.db.execute(
            _UPSERT_OUTBOUND, (wamid, phone_number_id, wa_id, kind, body, now, now, reply_to, now)
        )

    async def last_contact(self, wa_id: str) -> tuple[str, datetime] | None:
        """The number this user last wrote to, and when (for messages we start ourselves)."""
        row = await self.db.fetchone(
            "SELECT phone_number_id, sent_at FROM whatsapp_messages "
            "WHERE direction = 'in' AND wa_id = %s ORDER BY sent_at DESC LIMIT 1",
            (wa_id,),
        )
        return (str(row[0]), as_datetime(row[1])) if row else None

    async def last_inbound_at(self, phone_number_id: str, wa_id: str) -> datetime | None:
        """When this user last wrote to this number (the 24-hour window starts there)."""
        row = await self.db.fetchone(
            "SELECT MAX(sent_at) FROM whatsapp_messages "
            "WHERE direction = 'in' AND phone_number_id = %s AND wa_id = %s",
            (phone_number_id, wa_id),
        )
        return as_datetime(row[0]) if row and row[0] is not None else None
