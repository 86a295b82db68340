"""The webhook events of room writes, queued in the write's transaction: messages appended in a
batch, edits and deletes, and member events (whose member view is loaded only when some
subscription wants it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.rooms.access import RANK
from shoal.rooms.attachments import Attachments
from shoal.rooms.houses import member_view
from shoal.rooms.messages import Sender, message_view
from shoal.store.tables import HouseMember, Message, Room, User
from shoal.webhooks.queue import listening, queue_event, queue_for


async def messages_created(session: AsyncSession,
                           written: Sequence[tuple[Any, Room, Message, str | None]],
                           attachments: Attachments | None = None) -> int:
    """`message.created` for messages the appender just wrote, each given as (its append job,
    room, stored message, sender's @handle): the payload's `message` is the view the room's
    sockets get. Costs a dict lookup per room when nobody subscribed."""
    queue = queue_for(session)
    queued = 0
    targets: dict[str, list[str]] = {}
    payloads: dict[str, list[dict[str, Any]]] = {}
    for job, room, message, handle in written:
        if room.id not in targets:
            targets[room.id] = await queue.targets(session, "message.created",
                                                   room.house_id, room)
        if not targets[room.id]:
            continue
        sender = job.draft.sender
        view = message_view(message, room, Sender(sender.user, handle, sender.name))
        if attachments is not None:
            attachments.with_links([view])  # receivers have no session to read them with
        payloads.setdefault(room.id, []).append(
            queue.envelope("message.created", room.house_id, room, {"message": view}))
    for room_id, items in payloads.items():
        queued += await queue.insert(session, targets[room_id], "message.created", items)
    return queued


async def member_event(session: AsyncSession, event: str, house_id: str, user_id: str, *,
                       room: Room | None = None, **data: Any) -> int:
    """A `member.*` event about one house member, with their view as `member`; call it
    while the member still belongs to the house."""
    if not await listening(session, event, house_id, room):
        return 0
    row = (await session.execute(
        select(HouseMember, User).join(User, User.id == HouseMember.user_id)
        .where(HouseMember.house_id == house_id, HouseMember.user_id == user_id))).first()
    if row is None:
        return 0
    member, user = row.tuple()
    return await queue_event(session, event, room=room, house_id=house_id,
                             member=member_view(member, user), **data)


async def role_changed(session: AsyncSession, member: HouseMember, previous: str,
                       by: str) -> int:
    """`member.promoted` or `member.demoted` after a house role change (nothing if the role
    stayed the same)."""
    if RANK[member.role] == RANK[previous]:
        return 0
    event = "member.promoted" if RANK[member.role] > RANK[previous] else "member.demoted"
    return await member_event(session, event, member.house_id, member.user_id,
                              previous_role=previous, by=by)


class WebhookRoomEvents:
    """Queues the `message.*` and `member.*` events of a room write in its transaction;
    with `attachments`, a message's files carry signed links."""

    def __init__(self, attachments: Attachments | None = None) -> None:
        self.attachments = attachments

    async def messages_created(self, session: AsyncSession,
                               written: Sequence[tuple[Any, Room, Message, str | None]]) -> None:
        """`message.created` for messages just appended."""
        await messages_created(session, written, self.attachments)

    async def message_changed(self, session: AsyncSession, event: str, room: Room,
                              view: dict[str, Any]) -> None:
        """`message.updated` or `message.deleted` for one message's view."""
        await queue_event(session, event, room=room, message=view)

    async def member_changed(self, session: AsyncSession, event: str, room: Room,
                             user_id: str) -> None:
        """`member.joined` or `member.left` for one member of the room's house."""
        await member_event(session, event, room.house_id, user_id, room=room)
