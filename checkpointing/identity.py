"""Cross-channel identity: (channel, sender id) → one canonical user, and that user's thread.

Durable, in our own two tables next to the checkpoints (Postgres, or SQLite for the embedded
default): `users(user_id, created_at, active_thread, merged_into)` and
`identities(channel, sender_id, user_id, linked_at)`. The hot session caches what this store
answers; this store is the truth it is rebuilt from.

First contact creates a user whose id is the sender id itself (a WhatsApp number such as
`5511987654321`), so the channel that knows only the number can already name the user in
`/v1/users/{user_id}`; if that id is taken (same sender id on another channel) a fresh
`u-…` id is used. Linking a sender that already belongs to another user merges that user into
the target: its links move, and its old id keeps answering as an alias (`merged_into`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from checkpointing.sql import Database, Tx, iso, utcnow


class UnknownUser(LookupError):
    """No user has this id (nor had it before a merge)."""


@dataclass(frozen=True)
class Link:
    channel: str
    sender_id: str
    linked_at: str | None

    def as_dict(self) -> dict[str, str | None]:
        return {"channel": self.channel, "sender_id": self.sender_id, "linked_at": self.linked_at}


@dataclass(frozen=True)
class UserView:
    """What `GET /v1/users/{user_id}` shows, and what the hot session caches per user."""

    user_id: str
    links: list[Link] = field(default_factory=list)
    active_thread: str | None = None


@dataclass(frozen=True)
class LinkResult:
    user_id: str  # the canonical user after linking
    merged_user: str | None  # the user folded into it, if the sender belonged to another one
    moved: list[Link]  # every link that now points at `user_id` because of this call


class IdentityStore:
    """Users and their channel identities on Postgres or SQLite (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def resolve(self, channel: str, sender_id: str) -> str:
        """The canonical user id for this sender; the first contact creates the user."""
        async with self.db.transaction() as tx:
            found = await _owner(tx, channel, sender_id)
            if found is not None:
                return found
            now = utcnow()
            user_id = sender_id
            if not await _insert_user(tx, user_id, now):
                user_id = f"u-{uuid.uuid4().hex[:16]}"
                await _insert_user(tx, user_id, now)
            await tx.execute(
                "INSERT INTO identities (channel, sender_id, user_id, linked_at) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (channel, sender_id) DO NOTHING",
                (channel, sender_id, user_id, now),
            )
            owner = await _owner(tx, channel, sender_id)
            if owner is not None and owner != user_id:
                # Another worker created this sender's user first: drop our unused row.
                await tx.execute("DELETE FROM users WHERE user_id = %s", (user_id,))
        return owner or user_id

    async def canonical(self, user_id: str) -> str | None:
        """The live id for `user_id` (itself, or the user it was merged into); None: unknown."""
        async with self.db.transaction() as tx:
            return await _canonical(tx, user_id)

    async def user(self, user_id: str) -> UserView | None:
        """The user's links and active thread; follows merges; None for an unknown id."""
        async with self.db.transaction() as tx:
            canonical = await _canonical(tx, user_id)
            if canonical is None:
                return None
            row = await tx.fetchone(
                "SELECT active_thread FROM users WHERE user_id = %s", (canonical,)
            )
            rows = await tx.fetchall(
                "SELECT channel, sender_id, linked_at FROM identities WHERE user_id = %s "
                "ORDER BY linked_at, channel, sender_id",
                (canonical,),
            )
        links = [Link(channel, sender, iso(at)) for channel, sender, at in rows]
        return UserView(canonical, links, row[0] if row else None)

    async def active_thread(self, user_id: str) -> str | None:
        async with self.db.transaction() as tx:
            row = await tx.fetchone(
                "SELECT active_thread FROM users WHERE user_id = %s", (user_id,)
            )
        return row[0] if row else None

    async def set_active_thread(self, user_id: str, thread_id: str) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(
                "UPDATE users SET active_thread = %s WHERE user_id = %s", (thread_id, user_id)
            )

    async def claim_active_thread(self, user_id: str, thread_id: str) -> str:
        """`thread_id` becomes the user's active thread unless one is set already; the winner.

        One statement, so two first messages arriving together agree on one thread.
        """
        async with self.db.transaction() as tx:
            row = await tx.fetchone(
                "UPDATE users SET active_thread = COALESCE(active_thread, %s) "
                "WHERE user_id = %s RETURNING active_thread",
                (thread_id, user_id),
            )
        return row[0] if row and row[0] else thread_id

    async def link(self, user_id: str, channel: str, sender_id: str) -> LinkResult:
        """Attach (channel, sender_id) to `user_id`, merging the sender's current user into it.

        The target keeps its active thread (the conversation continues where the code was
        asked for); it takes the merged user's only when it has none. `UnknownUser` if
        `user_id` does not exist.
        """
        async with self.db.transaction() as tx:
            target = await _canonical(tx, user_id)
            if target is None:
                raise UnknownUser(user_id)
            now = utcnow()
            source = await _owner(tx, channel, sender_id)
            if source == target:
                return LinkResult(target, None, [])
            if source is None:
                await tx.execute(
                    "INSERT INTO identities (channel, sender_id, user_id, linked_at) "
                    "VALUES (%s, %s, %s, %s)",
                    (channel, sender_id, target, now),
                )
                return LinkResult(target, None, [Link(channel, sender_id, iso(now))])
            moved = [
                Link(c, s, iso(now))
                for c, s in await tx.fetchall(
                    "SELECT channel, sender_id FROM identities WHERE user_id = %s", (source,)
                )
            ]
            await tx.execute(
                "UPDATE identities SET user_id = %s, linked_at = %s WHERE user_id = %s",
                (target, now, source),
            )
            await tx.execute(
                "UPDATE users SET active_thread = COALESCE(active_thread, "
                "(SELECT active_thread FROM users WHERE user_id = %s)) WHERE user_id = %s",
                (source, target),
            )
            # Flat alias chains: anything that pointed at `source` now points at `target`.
            await tx.execute(
                "UPDATE users SET merged_into = %s WHERE user_id = %s OR merged_into = %s",
                (target, source, source),
            )
        return LinkResult(target, source, moved)


async def _owner(tx: Tx, channel: str, sender_id: str) -> str | None:
    row = await tx.fetchone(
        "SELECT user_id FROM identities WHERE channel = %s AND sender_id = %s",
        (channel, sender_id),
    )
    return row[0] if row else None


async def _canonical(tx: Tx, user_id: str) -> str | None:
    row = await tx.fetchone("SELECT merged_into FROM users WHERE user_id = %s", (user_id,))
    if row is None:
        return None
    return row[0] or user_id


async def _insert_user(tx: Tx, user_id: str, now: object) -> bool:
    inserted = await tx.execute(
        "INSERT INTO users (user_id, created_at) VALUES (%s, %s) ON CONFLICT (user_id) DO NOTHING",
        (user_id, now),
    )
    return inserted == 1
