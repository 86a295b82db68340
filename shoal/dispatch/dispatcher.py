"""The dispatcher: turns stored messages into activations, in the same transaction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shoal.dispatch.planner import (
    Bot,
    activation_rows,
    bots_in_scope,
    insert_ignoring_duplicates,
    plan_message,
)
from shoal.store.tables import Message, Room, User, utcnow


class Dispatcher:
    """Plans activations for messages as they are appended and wakes the worker after the
    commit. The activation rows are the durable record: a crash after the commit loses
    nothing, and dispatching the same message again inserts nothing new."""

    def __init__(self, clock: Callable[[], datetime] = utcnow) -> None:
        self.clock = clock
        self._wake: Callable[[], None] = lambda: None

    def on_work(self, wake: Callable[[], None]) -> None:
        """Call `wake` whenever new activations may be runnable."""
        self._wake = wake

    async def plan(self, session: AsyncSession,
                   appended: list[tuple[Room, list[tuple[Message, User | None, str | None]]]]
                   ) -> int:
        """Insert the activations for messages just appended, by room, each with its sender
        and the sender's house role. Returns how many can run. A house's public rooms share
        their bots in scope, and the rows of every room go in one insert, so a transaction
        spread over many rooms costs little more than one."""
        scopes: dict[tuple[str, str | None], list[Bot]] = {}
        ambient: dict[tuple[str, str], dict[str, Any]] = {}
        now = self.clock()
        runnable = 0
        rows: list[dict[str, Any]] = []
        for room, sent in appended:
            scope = (room.house_id, room.id if room.is_private else None)
            if scope not in scopes:
                scopes[scope] = await bots_in_scope(session, room)
            if not scopes[scope]:
                continue
            for message, sender, role in sent:
                planned = plan_message(message, room, scopes[scope], role,
                                       sender.username if sender else None)
                if planned:
                    moved, new = await activation_rows(session, message, room, planned, now,
                                                       ambient)
                    runnable += moved
                    rows.extend(new)
        if rows:
            inserted = await insert_ignoring_duplicates(session, rows)
            runnable += sum(status == "pending" for status in inserted)
        return runnable

    def committed(self, runnable: int) -> None:
        """The transaction holding `runnable` new activations committed."""
        if runnable:
            self._wake()
