"""The identity and session turn hooks: the hot session first, the durable stores behind it.

`IdentityService` answers `ChatService.prepare` (who is this sender, which thread are they in)
and the `/v1/users` routes (links, link codes). `SessionRecorder` lets retention know a thread
grew after each turn.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from checkpointing.identity import IdentityStore, LinkResult, UnknownUser, UserView
from checkpointing.link_codes import LinkCodes
from checkpointing.retention import CheckpointPruner
from checkpointing.sessions import HotSessions

log = logging.getLogger("esquadra.identity")

MergeHook = Callable[[str, str], Awaitable[Any]]


class InvalidLinkCode(ValueError):
    """The code is wrong, expired or already used."""


class IdentityService:
    """`IdentityHook` plus linking; every change to the tables drops the hot copies it affects."""

    def __init__(self, store: IdentityStore, sessions: HotSessions, codes: LinkCodes) -> None:
        self.store = store
        self.sessions = sessions
        self.codes = codes
        self._merge_hooks: list[MergeHook] = []

    def on_merge(self, hook: MergeHook) -> None:
        """Call `hook(source, target)` after a link folds user `source` into `target`.

        Stores keyed by user id (long-term memory) move their rows there.
        """
        self._merge_hooks.append(hook)

    async def resolve(self, channel: str, sender_id: str | None) -> str | None:
        if sender_id is None:
            return None
        cached = await self.sessions.sender(channel, sender_id)
        if cached is not None:
            return cached
        user_id = await self.store.resolve(channel, sender_id)
        await self.sessions.remember_sender(channel, sender_id, user_id)
        return user_id

    async def active_thread(self, user_id: str) -> str | None:
        view = await self.sessions.user(user_id)
        return view.active_thread if view else None

    async def set_active_thread(self, user_id: str, thread_id: str) -> None:
        await self.sessions.set_active_thread(user_id, thread_id)

    async def claim_active_thread(self, user_id: str, thread_id: str) -> str:
        """The user's active thread; `thread_id` becomes it when there is none (atomically)."""
        return await self.sessions.claim_active_thread(user_id, thread_id)

    async def user(self, user_id: str) -> UserView | None:
        """Links and active thread from the durable store (the API must not show stale links)."""
        return await self.store.user(user_id)

    async def issue_code(self, user_id: str) -> str:
        """A one-time code for `user_id` (`UnknownUser` if there is no such user)."""
        canonical = await self.store.canonical(user_id)
        if canonical is None:
            raise UnknownUser(user_id)
        return await self.codes.issue(canonical)

    async def redeem_code(self, code: str, channel: str, sender_id: str) -> LinkResult:
        """Link the sender to the user the code was issued for (`InvalidLinkCode` otherwise)."""
        user_id = await self.codes.redeem(code, channel, sender_id)
        if user_id is None:
            raise InvalidLinkCode(code)
        return await self.link(user_id, channel, sender_id)

    async def link(self, user_id: str, channel: str, sender_id: str) -> LinkResult:
        result = await self.store.link(user_id, channel, sender_id)
        users = [result.user_id] + ([result.merged_user] if result.merged_user else [])
        await self.sessions.forget(users, result.moved)
        if result.merged_user is not None:
            for hook in self._merge_hooks:
                try:
                    await hook(result.merged_user, result.user_id)
                except Exception:  # the link stands; the hook's owner can re-run its merge
                    log.exception("merge hook failed: %s -> %s", result.merged_user, result.user_id)
        return result


class SessionRecorder:
    """`SessionHook`: count each saved turn for retention.

    The hot session needs nothing from a turn: it holds who the sender is and their active
    thread, both set in `prepare`; the thread's messages live only in the checkpoint.
    """

    def __init__(self, pruner: CheckpointPruner | None) -> None:
        self.pruner = pruner

    async def record_turn(self, thread_id: str) -> None:
        if self.pruner is not None:
            self.pruner.after_turn(thread_id)
