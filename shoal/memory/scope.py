"""Who may be offered what: the one place search decides which rooms' history and which notes
a searcher sees. An agent searching from a room is offered that room's history and the public
rooms' (what everyone who reads the room can read too), never a DM's or another private
room's; its own notes saved in those rooms; the room's notes; the house's notes. A person is
offered the history of every room they can read."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, select

from shoal.errors import NotFound
from shoal.memory.vectors import VectorFilter
from shoal.rooms.access import room_access_to_read
from shoal.store.tables import HouseMember, Room, RoomMember

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession


# Prepared once: every memory_search asks it.
_PUBLIC = select(Room.id).where(Room.house_id == bindparam("house"),
                                Room.is_private.is_(False), Room.is_dm.is_(False))


async def public_rooms(session: AsyncSession, house_id: str) -> set[str]:
    """The house's public rooms: readable by every member of the house."""
    return set((await session.scalars(_PUBLIC, {"house": house_id})).all())


async def agent_filter(session: AsyncSession, agent_id: str, room_id: str
                       ) -> tuple[str, VectorFilter]:
    """The house and what an agent working in a room may be offered; NotFound when the agent
    cannot read the room."""
    access = await room_access_to_read(session, agent_id, room_id)
    if not access.can_see_room:
        raise NotFound("room not found")
    rooms = await public_rooms(session, access.house_id) | {room_id}
    return access.house_id, VectorFilter(frozenset(rooms), here=room_id, agent=agent_id)


async def readable_rooms(session: AsyncSession, user_id: str) -> dict[str, set[str]]:
    """Every room a principal can read, by house: the public rooms of its houses and the
    private rooms (DMs included) it is a member of."""
    found: dict[str, set[str]] = defaultdict(set)
    houses = (await session.scalars(select(HouseMember.house_id).where(
        HouseMember.user_id == user_id))).all()
    if not houses:
        return {}
    rows = (await session.execute(
        select(Room.id, Room.house_id, Room.is_private, Room.is_dm, RoomMember.user_id)
        .outerjoin(RoomMember, (RoomMember.room_id == Room.id)
                   & (RoomMember.user_id == user_id))
        .where(Room.house_id.in_(houses)))).all()
    for room_id, house_id, private, dm, member in rows:
        if (not private and not dm) or member is not None:
            found[house_id].add(room_id)
    return dict(found)
