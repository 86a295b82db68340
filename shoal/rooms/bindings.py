"""Rooms bound to an agent: one agent of the room's house answers every message a person posts
there without being mentioned (a support room, a front desk). The dispatcher reads
`Room.bound_agent_id`; this module sets, clears and shows it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.errors import InvalidInput
from shoal.rooms.houses import member_by_handle
from shoal.rooms.rooms import join_room, room_view, visible_rooms
from shoal.rooms.webhook_events import member_event
from shoal.store.tables import HouseMember, Room, User
from shoal.webhooks.queue import queue_event


@dataclass(frozen=True)
class Binding:
    """A room's binding after a change: its agent (None: unbound), the agent's view as rooms
    show it, and whether binding made the agent a member of the room."""

    agent: User | None
    view: dict[str, Any] | None
    joined: bool = False


def binding_view(agent: User, handle: str) -> dict[str, Any]:
    """A binding as room views show it."""
    return {"id": agent.id, "username": agent.username, "handle": handle}


async def bindings_of(session: AsyncSession, rooms: Sequence[Room]
                      ) -> dict[str, dict[str, Any]]:
    """The bindings of some rooms, by room id, in one query. A binding whose agent was
    deleted or left the house is not one: it is left out."""
    bound = {room.id: room.bound_agent_id for room in rooms if room.bound_agent_id}
    if not bound:
        return {}
    rows = await session.execute(
        select(Room.id, User, HouseMember.handle)
        .join(User, User.id == Room.bound_agent_id)
        .join(HouseMember, and_(HouseMember.user_id == User.id,
                                HouseMember.house_id == Room.house_id))
        .where(Room.id.in_(sorted(bound)), User.kind == "bot", User.deleted_at.is_(None)))
    return {room_id: binding_view(agent, handle) for room_id, agent, handle in rows.tuples()}


async def binding_of(session: AsyncSession, room: Room) -> dict[str, Any] | None:
    """The room's binding as its view shows it, or None."""
    return (await bindings_of(session, [room])).get(room.id)


async def visible_room_views(session: AsyncSession, user_id: str, house_id: str | None = None
                             ) -> list[dict[str, Any]]:
    """The views of the rooms a user may see (see `visible_rooms`), bindings included."""
    rows = await visible_rooms(session, user_id, house_id)
    bindings = await bindings_of(session, [room for room, _, _ in rows])
    return [room_view(room, is_member=joined, member_count=count, binding=bindings.get(room.id))
            for room, joined, count in rows]


async def house_bindings(session: AsyncSession, house_id: str) -> dict[str, str]:
    """Every bound room of a house: room id -> the agent's username."""
    rooms = (await session.scalars(
        select(Room).where(Room.house_id == house_id, Room.bound_agent_id.is_not(None)))).all()
    return {room_id: view["username"]
            for room_id, view in (await bindings_of(session, rooms)).items()}


async def house_agent(session: AsyncSession, house_id: str, ref: str) -> tuple[User, str]:
    """The house's agent written as `ref` (its @handle, username or id), with its handle;
    InvalidInput with a sentence when there is no such agent."""
    ref = ref.strip()
    if not ref:
        raise InvalidInput("agent is required: an agent's @handle, username or id")
    user = await member_by_handle(session, house_id, ref)
    if user is None:
        user = await session.get(User, ref)
    member = await session.get(HouseMember, (house_id, user.id)) if user else None
    if user is None or member is None or user.deleted_at is not None:
        raise InvalidInput(f"no agent in this house is {ref}; name one of its agents by "
                           "@handle, username or id")
    if user.kind != "bot":
        raise InvalidInput(f"@{member.handle} is a person; only an agent can be bound to a room")
    return user, member.handle


async def bind_room(session: AsyncSession, room: Room, agent_ref: str | None,
                    by_user_id: str | None) -> Binding:
    """Bind the room to one of its house's agents (`agent_ref`: @handle, username or id), or
    unbind it (None). An agent not yet in the room joins it. Queues `agency.updated` when the
    binding changes. Authorization is the caller's."""
    if room.is_dm:
        raise InvalidInput("a DM cannot be bound to an agent: an agent in a DM already "
                           "answers every message there")
    if agent_ref is None:
        agent, view, joined = None, None, False
    else:
        agent, handle = await house_agent(session, room.house_id, agent_ref)
        view = binding_view(agent, handle)
        joined = await join_room(session, room.id, agent.id)
        if joined:
            await member_event(session, "member.joined", room.house_id, agent.id, room=room)
    new_id = agent.id if agent else None
    # The room may come from another session (an authorization read): write by statement.
    current = await session.scalar(select(Room.bound_agent_id).where(Room.id == room.id))
    room.bound_agent_id = new_id
    if current != new_id:
        await session.execute(update(Room).where(Room.id == room.id)
                              .values(bound_agent_id=new_id))
        await queue_event(session, "agency.updated", room=room,
                          agency=room_view(room, binding=view), by=by_user_id)
    return Binding(agent, view, joined)


async def unbind_agent(session: AsyncSession, agent_id: str, *, house_id: str | None = None,
                       room_id: str | None = None) -> None:
    """Clear the agent's bindings (only in one house, or one room, when given): it was
    deleted, or left the house or the room."""
    query = update(Room).where(Room.bound_agent_id == agent_id)
    if house_id is not None:
        query = query.where(Room.house_id == house_id)
    if room_id is not None:
        query = query.where(Room.id == room_id)
    await session.execute(query.values(bound_agent_id=None))
