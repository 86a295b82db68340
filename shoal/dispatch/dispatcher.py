"""The dispatcher: turns stored messages into activations, in the same transaction."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shoal.dispatch.interactions import Notice, open_ledger
from shoal.dispatch.planner import (
    Bot,
    Planned,
    activation_rows,
    already_woken,
    bots_in_scope,
    insert_ignoring_duplicates,
    plan_message,
)
from shoal.store.tables import Message, Room, User, utcnow

log = logging.getLogger("shoal.dispatch")
# Completes activation rows (dicts) in the inserting transaction; sets the same keys on each.
TagActivations = Callable[[AsyncSession, list[dict[str, Any]]], Awaitable[None]]
DEFAULT_INTERACTION_BUDGET = 20


class Dispatcher:
    """Plans activations for messages as they are appended and wakes the worker after the
    commit. The activation rows are the durable record: a crash after the commit loses
    nothing, and dispatching the same message again inserts nothing new."""

    def __init__(self, clock: Callable[[], datetime] = utcnow,
                 interaction_budget: int = DEFAULT_INTERACTION_BUDGET) -> None:
        self.clock = clock
        self.interaction_budget = interaction_budget
        self._wake: Callable[[], None] = lambda: None
        self._post_notice: Callable[[Notice], Awaitable[Any]] | None = None
        self._posting: set[asyncio.Task[Any]] = set()
        self._tag: TagActivations | None = None

    def on_work(self, wake: Callable[[], None]) -> None:
        """Call `wake` whenever new activations may be runnable."""
        self._wake = wake

    def tag_with(self, tag: TagActivations) -> None:
        """Let `tag` complete the new activation rows in their transaction, before they are
        inserted (crews set `crew_id` and `crew_role` on their members' rows)."""
        self._tag = tag

    def on_notice(self, post: Callable[[Notice], Awaitable[Any]]) -> None:
        """Post a stopped-agents notice with `post`, after the transaction that spent the
        interaction's budget commits."""
        self._post_notice = post

    async def plan(self, session: AsyncSession,
                   appended: list[tuple[Room, list[tuple[Message, User | None, str | None]]]]
                   ) -> int:
        """Insert the activations for messages just appended, by room, each with its sender
        and the sender's house role. Returns how many can run. A house's public rooms share
        their bots in scope, and the rows of every room go in one insert, so a transaction
        spread over many rooms costs little more than one."""
        waking = await self._planned(session, appended)
        if not waking:
            return 0
        woken = await already_woken(session, {p.bot.id for *_, planned in waking
                                              for p in planned},
                                    [message.id for _, message, _, _ in waking])
        waking = [(room, message, sender, [p for p in planned
                                           if (p.bot.id, message.id) not in woken])
                  for room, message, sender, planned in waking]
        waking = [entry for entry in waking if entry[3]]
        if not waking:
            return 0
        ledger = await open_ledger(session, [(r, m, s) for r, m, s, _ in waking],
                                   self.interaction_budget)
        ambient: dict[tuple[str, str], dict[str, Any]] = {}
        now = self.clock()
        runnable = 0
        rows: list[dict[str, Any]] = []
        for room, message, _, planned in waking:
            moved, new = await activation_rows(session, message, room, planned, now, ambient,
                                               ledger)
            runnable += moved
            rows.extend(new)
        ledger.after_commit(session, self._notice_committed)
        if rows and self._tag is not None:
            await self._tag(session, rows)
        if rows:
            inserted = await insert_ignoring_duplicates(session, rows)
            runnable += sum(status == "pending" for status in inserted)
        return runnable

    async def _planned(self, session: AsyncSession,
                       appended: list[tuple[Room, list[tuple[Message, User | None, str | None]]]]
                       ) -> list[tuple[Room, Message, User | None, list[Planned]]]:
        """The messages that wake or skip some bot, with what they call for."""
        scopes: dict[tuple[str, str | None], list[Bot]] = {}
        waking = []
        for room, sent in appended:
            scope = (room.house_id, room.id if room.is_private else None)
            if scope not in scopes:
                scopes[scope] = await bots_in_scope(session, room)
            if not scopes[scope]:
                continue
            for message, sender, role in sent:
                planned = plan_message(message, room, scopes[scope], sender, role)
                if planned:
                    waking.append((room, message, sender, planned))
        return waking

    def committed(self, runnable: int) -> None:
        """The transaction holding `runnable` new activations committed."""
        if runnable:
            self._wake()

    def _notice_committed(self, notice: Notice) -> None:
        """Post a notice in the background: the committing writer must not wait on itself."""
        if self._post_notice is None:
            return
        task = asyncio.get_running_loop().create_task(self._post(notice))
        self._posting.add(task)
        task.add_done_callback(self._posting.discard)

    async def _post(self, notice: Notice) -> None:
        assert self._post_notice is not None
        try:
            await self._post_notice(notice)
        except Exception:
            log.exception("the stopped-agents notice for interaction %s could not be posted",
                          notice.interaction_id)
