"""Reactions: an emoji from a member on a message, a quick acknowledgement without a message.
Reacting is open to whoever can read the room, is idempotent, tells the room's sockets
(`reaction-added`, `reaction-removed`, with the counts and who) and wakes no agent: it never
goes through the message log or the dispatcher."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import emoji as emoji_lib
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.errors import InvalidInput, NotFound
from shoal.rooms.access import Action, authorize_room
from shoal.rooms.tables import Reaction
from shoal.store.tables import Message, User

if TYPE_CHECKING:
    from shoal.rooms.broadcast import RoomBroadcaster
    from shoal.store.db import Database

MAX_EMOJI_CHARS = 16  # code points: a family with skin tones and joiners fits


def check_emoji(value: object) -> str:
    """One emoji (flags, skin tones and joined sequences count as one), or InvalidInput."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("emoji is required, e.g. 👍")
    text = value.strip()
    if len(text) > MAX_EMOJI_CHARS or not emoji_lib.is_emoji(text):
        raise InvalidInput(f"{text[:20]!r} is not one emoji; react with a single emoji "
                           "such as 👍 or 🎉")
    return text


async def reactions_of(session: AsyncSession, message_ids: Sequence[str]
                       ) -> dict[str, list[dict[str, Any]]]:
    """Each message's reactions, in the order their emoji were first used:
    [{emoji, count, users: [{id, username, display_name}]}]; messages without any are left out."""
    if not message_ids:
        return {}
    rows = await session.execute(
        select(Reaction.message_id, Reaction.emoji, User.id, User.username, User.display_name)
        .join(User, User.id == Reaction.user_id)
        .where(Reaction.message_id.in_(list(message_ids)))
        .order_by(Reaction.created_at, Reaction.user_id))
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for message_id, emoji, user_id, username, display_name in rows:
        entry = found.setdefault(message_id, {}).setdefault(
            emoji, {"emoji": emoji, "count": 0, "users": []})
        entry["count"] += 1
        entry["users"].append({"id": user_id, "username": username,
                               "display_name": display_name})
    return {message_id: list(by_emoji.values()) for message_id, by_emoji in found.items()}


class Reactions:
    """Adds and removes reactions, and tells the room."""

    def __init__(self, db: Database, broadcaster: RoomBroadcaster) -> None:
        self.db = db
        self.broadcaster = broadcaster

    async def add(self, user: User, message_id: str, emoji: object) -> dict[str, Any]:
        """React; a second identical reaction changes nothing. Answers the message's
        reactions and whether this call changed them."""
        return await self._change(user, message_id, check_emoji(emoji), adding=True)

    async def remove(self, user: User, message_id: str, emoji: object) -> dict[str, Any]:
        """Take one's reaction back; taking back one that is not there changes nothing. What
        is not one emoji cannot be a reaction: NotFound."""
        try:
            checked = check_emoji(emoji)
        except InvalidInput:
            raise NotFound(f"{str(emoji)[:20]!r} is not a reaction: a reaction is one emoji, "
                           "such as 👍") from None
        return await self._change(user, message_id, checked, adding=False)

    async def _change(self, user: User, message_id: str, emoji: str, *, adding: bool
                      ) -> dict[str, Any]:
        async with self.db.write() as session:
            message = await session.get(Message, message_id)
            if message is None:
                raise NotFound("message not found")
            await authorize_room(session, user.id, message.room_id, Action.READ)
            if message.deleted_at is not None:
                if adding:
                    raise InvalidInput("a deleted message cannot take reactions")
                changed = False  # its reactions went with it
            elif adding:
                changed = await _insert(session, message, user.id, emoji)
            else:
                result = await session.execute(delete(Reaction).where(
                    Reaction.message_id == message.id, Reaction.user_id == user.id,
                    Reaction.emoji == emoji))
                changed = bool(getattr(result, "rowcount", 0))
            reactions = (await reactions_of(session, [message.id])).get(message.id, [])
        entry = next((r for r in reactions if r["emoji"] == emoji), None)
        event = {
            "messageId": message.id, "agencyId": message.room_id, "seq": message.seq,
            "emoji": emoji, "userId": user.id, "username": user.username,
            "count": entry["count"] if entry else 0,
            "users": entry["users"] if entry else [],
            "reactions": reactions,
        }
        if changed:
            name = "reaction-added" if adding else "reaction-removed"
            await self.broadcaster.emit_room(message.room_id, name, event)
        return {**event, "changed": changed}


async def _insert(session: AsyncSession, message: Message, user_id: str, emoji: str) -> bool:
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(Reaction).values(
        message_id=message.id, user_id=user_id, emoji=emoji, room_id=message.room_id,
    ).on_conflict_do_nothing().returning(Reaction.emoji)
    return (await session.scalar(statement)) is not None
