"""A room's append-only log: validation, appends with a per-room seq, edits, history."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, case, delete, insert, inspect, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.errors import InvalidInput, NotFound, TooLarge
from shoal.ids import new_id
from shoal.jsontext import check_json, parse_json
from shoal.rooms.attachments import claim
from shoal.rooms.faces import avatar_url, emoji_of
from shoal.rooms.houses import member_by_handle
from shoal.rooms.mentions import mentioned_handles
from shoal.rooms.reactions import reactions_of
from shoal.rooms.tables import Reaction
from shoal.store.db import Prepared, run_core
from shoal.store.tables import (
    HouseMember,
    Message,
    MessageMention,
    Room,
    User,
    detached,
    iso,
    utcnow,
)

MESSAGE_TYPES = ("chat", "tool_result", "action", "system")
# The append path's statements, prepared once (core, no unit of work): it runs them for
# every group commit, the hottest writes in Shoal.
_ROOMS = cast(Table, Room.__table__)
_NEXT_SEQS = Prepared(update(_ROOMS).where(_ROOMS.c.id == bindparam("room"))
                      .values(last_seq=_ROOMS.c.last_seq + bindparam("count"))
                      .returning(_ROOMS.c.last_seq))
_INSERT_MESSAGES = Prepared(insert(cast(Table, Message.__table__)))
_INSERT_MENTIONS = Prepared(insert(cast(Table, MessageMention.__table__)))
# (attribute, column): `meta` is stored in the `metadata` column.
_MESSAGE_FIELDS = [(attr.key, attr.columns[0].key) for attr in inspect(Message).column_attrs]
_MESSAGE_UNSET = dict.fromkeys(attr for attr, _ in _MESSAGE_FIELDS)  # as the insert stores them
MAX_HISTORY = 100
DEFAULT_HISTORY = 50


@dataclass(frozen=True)
class Limits:
    """Size caps for what a client may store."""

    max_content_chars: int
    max_metadata_bytes: int


@dataclass(frozen=True)
class Sender:
    """Who a message is from: a member, or the system with a shown name (hooks, commands)."""

    user: User | None
    handle: str | None = None
    name: str | None = None


def check_content(content: object, limits: Limits, *, may_be_empty: bool = False) -> str:
    """Message content as a string within its cap (empty only when `may_be_empty`: a
    message that carries files)."""
    if may_be_empty and content in (None, ""):
        return ""
    if not isinstance(content, str):
        raise InvalidInput("content must be a string")
    if not content.strip():
        raise InvalidInput("content must not be empty")
    check_json(content, "content")
    if len(content) > limits.max_content_chars:
        raise TooLarge(f"content is {len(content)} characters; the limit is "
                       f"{limits.max_content_chars}")
    return content


def check_metadata(metadata: object, limits: Limits) -> dict[str, Any]:
    """Metadata as an object (a JSON string is accepted, as the contract allows) within its cap."""
    if metadata is None:
        return {}
    if isinstance(metadata, str):
        try:
            metadata = parse_json(metadata, "metadata", "metadata")
        except ValueError:
            raise InvalidInput("metadata must be a JSON object") from None
    if not isinstance(metadata, dict):
        raise InvalidInput("metadata must be a JSON object")
    check_json(metadata, "metadata")
    dumped = json.dumps(metadata, separators=(",", ":"))
    size = len(dumped.encode())
    if size > limits.max_metadata_bytes:
        raise TooLarge(f"metadata is {size} bytes; the limit is {limits.max_metadata_bytes}")
    check_trace(metadata)
    return metadata


# Markers only Shoal's own posts carry (heartbeat prompts, hook posts): the web app shows them
# as badges, so a person's or a bot's message never keeps them.
SYSTEM_MARKERS = ("heartbeat", "heartbeat_id", "hook")


def member_metadata(metadata: object, limits: Limits) -> dict[str, Any]:
    """A member's metadata, checked, without the markers of Shoal's own posts."""
    checked = check_metadata(metadata, limits)
    return {key: value for key, value in checked.items() if key not in SYSTEM_MARKERS}


TRACE_STATUSES = ("done", "ok", "error")


def check_trace(metadata: dict[str, Any]) -> None:
    """`trace` is a list of {step, duration: "34ms", status: done|ok|error}; `duration` a
    string. UIs render both, so a wrong shape is refused rather than stored."""
    if "duration" in metadata and not isinstance(metadata["duration"], str):
        raise InvalidInput('metadata.duration must be a string such as "415ms"')
    if "trace" not in metadata:
        return
    trace = metadata["trace"]
    if not isinstance(trace, list):
        raise InvalidInput("metadata.trace must be a list of steps")
    for index, step in enumerate(trace):
        if not (isinstance(step, dict) and isinstance(step.get("step"), str)
                and isinstance(step.get("duration"), str)
                and step.get("status") in TRACE_STATUSES):
            raise InvalidInput(f'metadata.trace[{index}] must be {{step: string, duration: '
                               f'string like "34ms", status: done, ok or error}}')


def check_type(kind: object) -> str:
    """A known message type; chat when none is given."""
    if kind is None:
        return "chat"
    if kind not in MESSAGE_TYPES:
        raise InvalidInput(f"type must be one of {', '.join(MESSAGE_TYPES)}")
    return str(kind)


async def resolve_mentions(session: AsyncSession, house_id: str, content: str) -> list[str]:
    """User ids of the house members a text mentions, by handle or by username."""
    [ids] = await resolve_mentions_of(session, house_id, [content])
    return ids


async def resolve_mentions_of(session: AsyncSession, house_id: str, contents: list[str]
                              ) -> list[list[str]]:
    """`resolve_mentions` for many texts of one house, with one query for all of them."""
    wanted = [mentioned_handles(content) for content in contents]
    every = sorted({handle for handles in wanted for handle in handles})
    if not every:
        return [[] for _ in contents]
    rows = await session.execute(
        select(HouseMember.user_id, HouseMember.handle, User.username_key)
        .join(User, User.id == HouseMember.user_id)
        .where(
            HouseMember.house_id == house_id,
            or_(HouseMember.handle.in_(every), User.username_key.in_(every)),
        )
    )
    found: dict[str, str] = {}
    for user_id, handle, username_key in rows:
        found.setdefault(handle, user_id)
        found.setdefault(username_key, user_id)
    return [list(dict.fromkeys(found[h] for h in handles if h in found)) for handles in wanted]


@dataclass(frozen=True)
class Draft:
    """A validated message waiting for its seq."""

    sender: Sender
    content: str
    type: str = "chat"
    metadata: dict[str, Any] = field(default_factory=dict)
    activation_id: str | None = None  # set on a bot's reply; at most one message per activation
    # Set on a reply from a worker's run: posted only while that worker holds the lease.
    lease_owner: str | None = None
    # The files it carries ({id, name, size, content_type}), checked by shoal.rooms.attachments.
    attachments: list[dict[str, Any]] = field(default_factory=list)


async def append_messages(session: AsyncSession, appends: list[tuple[Room, list[Draft]]]
                          ) -> list[list[Message]]:
    """Append each room's drafts to its log with consecutive seqs: the rooms' seqs advanced
    (in one statement on SQLite), mentions resolved once per house (so nothing downstream
    parses them again), and one insert for all the messages and one for their mentions,
    however many rooms they span."""
    mentions = await _mentions_by_house(session, appends)
    lasts = await _advance_seqs(session, {room.id: len(drafts) for room, drafts in appends})
    now = utcnow()
    appended: list[list[Message]] = []
    for (room, drafts), room_mentions in zip(appends, mentions, strict=True):
        last = room.last_seq = lasts[room.id]
        appended.append([detached(Message, {
            **_MESSAGE_UNSET,
            "id": new_id(),
            "room_id": room.id,
            "seq": last - len(drafts) + 1 + offset,
            "sender_id": draft.sender.user.id if draft.sender.user else None,
            "sender_name": draft.sender.name,
            "type": draft.type,
            "content": draft.content,
            "meta": draft.metadata,
            "mentions": room_mentions[offset],
            "created_at": now,
            "activation_id": draft.activation_id,
            "attachments": draft.attachments or None,
        }) for offset, draft in enumerate(drafts)])
    messages = [message for room_messages in appended for message in room_messages]
    if not messages:
        return appended
    await _INSERT_MESSAGES.rows(session, [
        {column: getattr(m, attr) for attr, column in _MESSAGE_FIELDS} for m in messages])
    mentioned = [{"message_id": m.id, "user_id": uid, "room_id": m.room_id, "seq": m.seq}
                 for m in messages for uid in m.mentions]
    if mentioned:
        await _INSERT_MENTIONS.rows(session, mentioned)
    for message in messages:
        if message.attachments:
            await claim(session, message.id, message.attachments)
    return appended


async def _advance_seqs(session: AsyncSession, counts: dict[str, int]) -> dict[str, int]:
    """Move each room's last seq on by its count of new messages; the new last seqs. SQLite
    takes every room in one statement (it runs one writer at a time); PostgreSQL one room at
    a time in the callers' order, so processes lock rooms in the same order."""
    if len(counts) > 1 and session.get_bind().dialect.name == "sqlite":
        advance = (update(_ROOMS).where(_ROOMS.c.id.in_(list(counts)))
                   .values(last_seq=_ROOMS.c.last_seq + case(counts, value=_ROOMS.c.id))
                   .returning(_ROOMS.c.id, _ROOMS.c.last_seq))
        rows = await run_core(session, advance)
        return {room_id: last for room_id, last in rows.tuples()}
    lasts = {}
    for room_id, count in counts.items():
        [(last,)] = await _NEXT_SEQS.rows(session, {"room": room_id, "count": count})
        lasts[room_id] = last
    return lasts


async def _mentions_by_house(session: AsyncSession, appends: list[tuple[Room, list[Draft]]]
                             ) -> list[list[list[str]]]:
    """The members each draft mentions, in the shape of `appends`: one query per house."""
    texts: dict[str, list[str]] = {}
    for room, drafts in appends:
        texts.setdefault(room.house_id, []).extend(draft.content for draft in drafts)
    resolved = {house_id: iter(await resolve_mentions_of(session, house_id, contents))
                for house_id, contents in texts.items()}
    return [[next(resolved[room.house_id]) for _ in drafts] for room, drafts in appends]


async def edit_message(
    session: AsyncSession, message: Message, house_id: str, content: str,
    metadata: dict[str, Any] | None = None,
) -> Message:
    """Replace a message's content (and metadata if given); mentions are resolved again."""
    if message.deleted_at is not None:
        raise InvalidInput("a deleted message cannot be edited")
    message.content = content
    if metadata is not None:
        message.meta = metadata
    message.edited_at = utcnow()
    message.mentions = await resolve_mentions(session, house_id, content)
    await session.execute(delete(MessageMention).where(MessageMention.message_id == message.id))
    session.add_all(
        MessageMention(message_id=message.id, user_id=uid, room_id=message.room_id,
                       seq=message.seq)
        for uid in message.mentions
    )
    await session.flush()
    return message


async def soft_delete(session: AsyncSession, message: Message) -> Message:
    """Hide a message's content (and drop its reactions); its seq stays so readers never see
    a gap."""
    if message.deleted_at is None:
        message.deleted_at = utcnow()
        message.content = ""
        message.meta = {}
        message.attachments = None
        await session.execute(
            delete(MessageMention).where(MessageMention.message_id == message.id)
        )
        await session.execute(delete(Reaction).where(Reaction.message_id == message.id))
    return message


async def get_message(session: AsyncSession, message_id: str) -> Message:
    """The message, or NotFound."""
    message = await session.get(Message, message_id)
    if message is None:
        raise NotFound("message not found")
    return message


def _parse_time(text: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else None


async def history(
    session: AsyncSession,
    room: Room,
    *,
    limit: int = DEFAULT_HISTORY,
    before: str | None = None,
    after_seq: int | None = None,
    mentions: str | None = None,
) -> list[dict[str, Any]]:
    """Messages of a room: newest first, or oldest first after a seq when resuming."""
    limit = max(1, min(limit, MAX_HISTORY))
    query = _with_senders(room).where(Message.room_id == room.id)
    if before:
        when = _parse_time(before)
        if when is not None:
            query = query.where(Message.created_at < when)
        else:
            pivot = await session.scalar(
                select(Message.seq).where(Message.id == before, Message.room_id == room.id)
            )
            if pivot is None:
                raise InvalidInput("before must be a message id of this room or an ISO time")
            query = query.where(Message.seq < pivot)
    if mentions:
        target = await member_by_handle(session, room.house_id, mentions)
        mentioned = select(MessageMention.message_id).where(
            MessageMention.room_id == room.id,
            MessageMention.user_id == (target.id if target else None),
        )
        query = query.where(Message.id.in_(mentioned))
    if after_seq is not None:
        query = query.where(Message.seq > after_seq).order_by(Message.seq.asc())
    else:
        query = query.order_by(Message.seq.desc())
    rows = await session.execute(query.limit(limit))
    views = [message_view(m, room, Sender(u, h, m.sender_name)) for m, u, h in rows]
    return await with_reactions(session, views)


async def with_reactions(session: AsyncSession, views: list[dict[str, Any]]
                         ) -> list[dict[str, Any]]:
    """The views, each with its message's reactions (one query for all of them)."""
    found = await reactions_of(session, [view["id"] for view in views])
    for view in views:
        view["reactions"] = found.get(view["id"], [])
    return views


def _with_senders(room: Room) -> Any:
    return (
        select(Message, User, HouseMember.handle)
        .outerjoin(User, User.id == Message.sender_id)
        .outerjoin(
            HouseMember,
            and_(HouseMember.user_id == Message.sender_id, HouseMember.house_id == room.house_id),
        )
    )


async def message_with_sender(session: AsyncSession, message: Message, room: Room
                              ) -> dict[str, Any]:
    """One stored message as the wire shows it, its sender looked up."""
    row = (await session.execute(_with_senders(room).where(Message.id == message.id))).one()
    _, user, handle = row.tuple()
    view = message_view(message, room, Sender(user, handle, message.sender_name))
    [view] = await with_reactions(session, [view])
    return view


def message_view(message: Message, room: Room, sender: Sender) -> dict[str, Any]:
    """The contract's message object, plus seq, mentions and edit/delete marks."""
    user = sender.user
    if user is None:
        sender_fields = {
            "sender_id": "system",
            "sender_username": "system",
            "sender_display_name": message.sender_name or "System",
            "sender_handle": None,
            "sender_type": "system",
            "sender_avatar_url": None,
            "sender_emoji": None,
        }
    else:
        sender_fields = {
            "sender_id": user.id,
            "sender_username": user.username,
            "sender_display_name": message.sender_name or user.display_name,
            "sender_handle": sender.handle,
            "sender_type": "agent" if user.kind == "bot" else "user",
            "sender_avatar_url": avatar_url(user),
            "sender_emoji": emoji_of(user),
        }
    return {
        "id": message.id,
        "seq": message.seq,
        "agency_id": message.room_id,
        "agencyId": message.room_id,
        "content": message.content,
        **sender_fields,
        "type": message.type,
        "metadata": message.meta,
        "mentions": message.mentions,
        "created_at": iso(message.created_at),
        "edited_at": iso(message.edited_at),
        "deleted": message.deleted_at is not None,
        "dm": room.is_dm,
        "attachments": attachment_views(message.attachments),
        "reactions": [],
    }


def attachment_views(stored: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The files a message carries, as readers see them: with the address that serves each
    one to whoever can read the room."""
    return [{**item, "url": f"/api/attachments/{item['id']}"} for item in stored or []]
