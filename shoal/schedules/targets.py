"""Which agent a schedule prompts: a bot of the room's house that can see the room."""

from __future__ import annotations

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.errors import InvalidInput
from shoal.rooms.access import room_access
from shoal.rooms.houses import member_by_handle
from shoal.store.tables import HouseMember, Room, User


async def schedulable_agent(session: AsyncSession, room: Room, ref: str) -> User:
    """The agent written as `@handle` (or given by id) that may be prompted in the room."""
    if ref.startswith("@"):
        agent = await member_by_handle(session, room.house_id, ref)
    else:
        agent = await session.scalar(select(User).join(HouseMember, and_(
            HouseMember.user_id == User.id, HouseMember.house_id == room.house_id))
            .where(User.id == ref))
    if agent is None or agent.kind != "bot" or agent.deleted_at is not None:
        raise InvalidInput(f"no agent in this house is {ref}")
    if not (await room_access(session, agent.id, room.id)).can_see_room:
        raise InvalidInput(f"{ref} is not in this private room; add it first")
    return agent
