"""The webhook outbox as the rooms' write paths record into it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shoal.store.tables import Message, Room
from shoal.webhooks.emit import member_event, messages_created
from shoal.webhooks.queue import queue_event


class WebhookRoomEvents:
    """Queues the `message.*` and `member.*` events of a room write in its transaction."""

    async def messages_created(self, session: AsyncSession,
                               written: Sequence[tuple[Any, Room, Message, str | None]]) -> None:
        """`message.created` for messages just appended."""
        await messages_created(session, written)

    async def message_changed(self, session: AsyncSession, event: str, room: Room,
                              view: dict[str, Any]) -> None:
        """`message.updated` or `message.deleted` for one message's view."""
        await queue_event(session, event, room=room, message=view)

    async def member_changed(self, session: AsyncSession, event: str, room: Room,
                             user_id: str) -> None:
        """`member.joined` or `member.left` for one member of the room's house."""
        await member_event(session, event, room.house_id, user_id, room=room)
