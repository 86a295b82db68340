"""Tools about the room an agent works in, group `rooms`: `react`, a quick acknowledgement
with an emoji instead of a message."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from shoal.errors import ShoalError
from shoal.store.tables import Message
from shoal.tools.base import Tool, ToolError, ToolList, ToolScope

if TYPE_CHECKING:
    from shoal.rooms.reactions import Reactions
    from shoal.store.db import Database

GROUP = "rooms"


class RoomTools:
    """Supplies `react` in every room."""

    def __init__(self, db: Database, reactions: Reactions) -> None:
        self.db = db
        self.reactions = reactions

    async def tools(self, scope: ToolScope) -> ToolList:
        """`react`, bound to the calling bot and its room."""

        async def run(arguments: dict[str, Any]) -> str:
            return await self._react(scope, arguments)

        return ToolList([Tool(
            name="react",
            description=(
                "React to a message in this room with one emoji (such as 👍, 👀 or ✅): a "
                "quick acknowledgement that posts no message and wakes no one. Without a "
                "message_id it reacts to the latest message someone else posted."),
            parameters={
                "type": "object",
                "properties": {
                    "emoji": {"type": "string", "description": "one emoji, e.g. 👍"},
                    "message_id": {"type": "string",
                                   "description": "the message to react to (default: the "
                                                  "latest one not yours)"},
                    "remove": {"type": "boolean",
                               "description": "take your reaction back instead"},
                },
                "required": ["emoji"],
            },
            groups=(GROUP,),
            run=run,
        )])

    async def _react(self, scope: ToolScope, arguments: dict[str, Any]) -> str:
        message_id = arguments.get("message_id")
        if message_id is not None and (not isinstance(message_id, str) or not message_id):
            raise ToolError("message_id must be a message's id, or left out")
        if message_id is None:
            message_id = await self._latest_other(scope)
        else:
            await self._check_in_room(scope, message_id)
        try:
            if arguments.get("remove") is True:
                answer = await self.reactions.remove(scope.bot, message_id, arguments.get("emoji"))
            else:
                answer = await self.reactions.add(scope.bot, message_id, arguments.get("emoji"))
        except ShoalError as exc:
            raise ToolError(exc.message) from None
        verb = "removed" if arguments.get("remove") is True else "reacted"
        return (f"{verb} {answer['emoji']} on message {message_id}; it now has "
                f"{answer['count']} {answer['emoji']}")

    async def _latest_other(self, scope: ToolScope) -> str:
        async with self.db.read() as session:
            found = await session.scalar(
                select(Message.id)
                .where(Message.room_id == scope.room_id, Message.deleted_at.is_(None),
                       (Message.sender_id != scope.bot.id) | Message.sender_id.is_(None))
                .order_by(Message.seq.desc()).limit(1))
        if found is None:
            raise ToolError("there is no message in this room to react to")
        return found

    async def _check_in_room(self, scope: ToolScope, message_id: str) -> None:
        async with self.db.read() as session:
            room_id = await session.scalar(select(Message.room_id).where(Message.id == message_id))
        if room_id != scope.room_id:
            raise ToolError(f"no message {message_id} in this room")
