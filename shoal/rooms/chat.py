"""Posting, editing and deleting messages: store first, then tell the room."""

from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from shoal.agents.config import load_config
from shoal.errors import Forbidden, InvalidInput
from shoal.rooms.access import Action, authorize, room_access
from shoal.rooms.appender import MessageAppender
from shoal.rooms.attachments import drop_message_files
from shoal.rooms.messages import (
    Draft,
    Limits,
    Sender,
    check_content,
    check_metadata,
    check_type,
    edit_message,
    get_message,
    member_metadata,
    message_with_sender,
    soft_delete,
)
from shoal.store.tables import Message, Room, User, iso, utcnow

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from shoal.rooms.appender import ActivationPlanner
    from shoal.rooms.attachments import Attachments
    from shoal.rooms.broadcast import RoomBroadcaster, RoomEvents
    from shoal.store.db import Database


class Chat:
    """The write side of rooms. Every message, whoever sends it, comes through here so it is
    validated, appended with its seq and broadcast in seq order."""

    def __init__(self, db: Database, broadcaster: RoomBroadcaster, limits: Limits,
                 planner: ActivationPlanner, events: RoomEvents,
                 members_changed: Callable[[Room], Awaitable[None]] | None = None,
                 attachments: Attachments | None = None) -> None:
        """`members_changed` tells a room its members after a post made the poster one;
        `attachments` keeps the files messages carry (none: messages carry no files)."""
        self.db = db
        self.attachments = attachments
        self.broadcaster = broadcaster
        self.limits = limits
        self.events = events
        self.appender = MessageAppender(db, broadcaster, planner, events, members_changed)

    async def post(
        self,
        user: User,
        room_id: str,
        content: object,
        *,
        type: object = None,
        metadata: object = None,
        attachments: object = None,
    ) -> dict[str, Any]:
        """A member posts to a room they may post in, maybe with files they uploaded to it
        (`attachments`: their ids); returns the stored message."""
        files = await self._files(user, room_id, attachments)
        draft = Draft(Sender(user), check_content(content, self.limits, may_be_empty=bool(files)),
                      check_type(type), member_metadata(metadata, self.limits),
                      attachments=files)
        return await self.appender.append(room_id, draft, check=True)

    async def _files(self, user: User, room_id: str, ids: object) -> list[dict[str, Any]]:
        if ids is None or ids == []:
            return []
        if self.attachments is None:
            raise InvalidInput("this server keeps no attachments")
        return await self.attachments.for_message(user.id, room_id, ids)

    async def post_reply(
        self,
        bot: User,
        room_id: str,
        content: object,
        *,
        activation_id: str,
        metadata: object = None,
        lease_owner: str | None = None,
    ) -> dict[str, Any]:
        """A bot answers an activation. A second reply to the same activation (a retried
        run) returns the first instead of posting again. With `lease_owner` (a worker's run),
        the reply is refused with LeaseLost unless that worker still holds the lease."""
        await self._human_delay(bot, room_id)
        draft = Draft(Sender(bot), check_content(content, self.limits), "chat",
                      member_metadata(metadata, self.limits), activation_id=activation_id,
                      lease_owner=lease_owner)
        return await self.appender.append(room_id, draft, check=True)

    async def _human_delay(self, bot: User, room_id: str) -> None:
        """With `human_delay` set, an agent whose last message here is recent waits a random
        while after it, so several replies in a row do not land at once."""
        delay = load_config(bot.config).human_delay
        if delay is None or delay.max_ms <= 0:
            return
        async with self.db.read() as session:
            last = await session.scalar(
                select(Message.created_at)
                .where(Message.room_id == room_id, Message.sender_id == bot.id)
                .order_by(Message.seq.desc()).limit(1))
        if last is None:
            return
        pause = random.uniform(delay.min_ms, delay.max_ms) / 1000
        wait = (last - utcnow()).total_seconds() + pause
        if wait > 0:
            await asyncio.sleep(wait)

    async def post_system(
        self,
        room_id: str,
        content: str,
        *,
        sender_name: str = "System",
        type: str = "system",
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Shoal itself posts (command results, hooks, schedules); no permission applies."""
        draft = Draft(Sender(None, name=sender_name), check_content(content, self.limits), type,
                      check_metadata(metadata, self.limits))
        return await self.appender.append(room_id, draft, check=False)

    async def edit(
        self, user: User, message_id: str, content: object, metadata: object = None
    ) -> dict[str, Any]:
        """The author, or a room moderator, replaces a message's content."""
        text = check_content(content, self.limits)
        meta = member_metadata(metadata, self.limits) if metadata is not None else None
        async with self.db.write() as session:
            message = await get_message(session, message_id)
            if message.sender_id is None:
                raise Forbidden("system messages cannot be edited")
            access = await room_access(session, user.id, message.room_id)
            authorize(access, Action.POST if message.sender_id == user.id else Action.MODERATE)
            await edit_message(session, message, access.house_id, text, meta)
            assert access.room is not None
            view = await message_with_sender(session, message, access.room)
            await self.events.message_changed(session, "message.updated", access.room, view)
        await self.broadcaster.emit_room(message.room_id, "message-edited", edited_event(view))
        return view

    async def delete(self, user: User, message_id: str) -> dict[str, Any]:
        """The author, or a room moderator, deletes a message; its seq stays as a tombstone."""
        async with self.db.write() as session:
            message = await get_message(session, message_id)
            access = await room_access(session, user.id, message.room_id)
            authorize(access, Action.POST if message.sender_id == user.id else Action.MODERATE)
            await soft_delete(session, message)
            removed = await drop_message_files(session, message.id)
            assert access.room is not None
            view = await message_with_sender(session, message, access.room)
            await self.events.message_changed(session, "message.deleted", access.room, view)
        await self.broadcaster.emit_room(
            message.room_id,
            "message-deleted",
            {"messageId": message.id, "agencyId": message.room_id, "seq": message.seq,
             "deleted_at": iso(message.deleted_at)},
        )
        if removed and self.attachments is not None:
            await self.attachments.remove(removed)
        return view


def edited_event(view: dict[str, Any]) -> dict[str, Any]:
    """The contract's `message-edited` payload for a message view."""
    return {
        "messageId": view["id"],
        "agencyId": view["agency_id"],
        "seq": view["seq"],
        "content": view["content"],
        "metadata": view["metadata"],
        "edited_at": view["edited_at"],
    }
