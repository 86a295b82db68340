"""The dispatcher: turns stored messages into activations, in the same transaction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from shoal.dispatch.planner import bots_in_scope, insert_activations, plan_message
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

    async def plan(self, session: AsyncSession, room: Room,
                   sent: list[tuple[Message, User | None, str | None]]) -> int:
        """Insert the activations for messages just appended to a room, each with its
        sender and the sender's house role. Returns how many can run."""
        bots = await bots_in_scope(session, room)
        if not bots:
            return 0
        now = self.clock()
        runnable = 0
        for message, sender, role in sent:
            planned = plan_message(message, room, bots, role,
                                   sender.username if sender else None)
            if planned:
                runnable += await insert_activations(session, message, room, planned, now)
        return runnable

    def committed(self, runnable: int) -> None:
        """The transaction holding `runnable` new activations committed."""
        if runnable:
            self._wake()
