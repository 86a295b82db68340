"""SDK bots' waiting activations: a bot with no socket in a room when a message woke it has
not heard it; when its socket joins that room it catches up, and the activation is delivered."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from shoal.rooms.messages import message_with_sender
from shoal.store.tables import Activation, Message, utcnow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from shoal.store.tables import Room, User

log = logging.getLogger("shoal.realtime")
WAITING = "waiting"  # the status the SDK runtime parks an undelivered activation in


async def deliver_waiting(session: AsyncSession, bot: User, room: Room, *, resumed: bool
                          ) -> list[dict[str, Any]]:
    """Mark the bot's activations waiting in this room delivered, and return the trigger
    messages it still has to hear, oldest first: none when it `resumed` from a seq (the
    join replays everything after it), else every waiting trigger."""
    rows = (await session.scalars(
        select(Activation).where(Activation.bot_id == bot.id, Activation.room_id == room.id,
                                 Activation.status == WAITING)
        .order_by(Activation.created_at, Activation.id))).all()
    triggers: list[dict[str, Any]] = []
    now = utcnow()
    for row in rows:
        row.status, row.outcome, row.finished_at = "done", "delivered", now
        log.info("activation %s delivered: @%s joined #%s", row.id, bot.username, room.slug)
        message = (await session.get(Message, row.trigger_message_id)
                   if row.trigger_message_id and not resumed else None)
        if message is not None and message.deleted_at is None:
            triggers.append(await message_with_sender(session, message, room))
    return sorted(triggers, key=lambda m: int(m["seq"]))
