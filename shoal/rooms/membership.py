"""Room membership changes that the room hears about: joins, invites, leaves, and the agent a
room is bound to."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shoal.errors import NotFound
from shoal.rooms.bindings import Binding, bind_room, unbind_agent
from shoal.rooms.houses import member_by_handle, member_view
from shoal.rooms.rooms import join_room, leave_room, room_members, room_view
from shoal.store.tables import HouseMember, Room, User

if TYPE_CHECKING:
    from shoal.rooms.broadcast import MemberBroadcaster, RoomEvents
    from shoal.store.db import Database


class Membership:
    """Joins, invites and leaves: stored, then told to the room and to the person."""

    def __init__(self, db: Database, broadcaster: MemberBroadcaster, events: RoomEvents
                 ) -> None:
        self.db = db
        self.broadcaster = broadcaster
        self.events = events

    async def members_payload(self, room: Room) -> list[dict[str, Any]]:
        """The room's members as the `members-updated` and members endpoints show them."""
        async with self.db.read() as session:
            rows = await room_members(session, room)
        return [member_view(m, u, self.broadcaster.is_online_in(u.id, room.id))
                for m, u in rows]

    async def add_member(self, room: Room, user_id: str) -> bool:
        """Add a house member to a room, tell them (`agency-invited`) and the room
        (`members-updated`); False when they were already in it."""
        async with self.db.write() as session:
            if await session.get(HouseMember, (room.house_id, user_id)) is None:
                raise NotFound("that user is not a member of this house")
            added = await join_room(session, room.id, user_id)
            if added:
                await self.events.member_changed(session, "member.joined", room, user_id)
        if added:
            await self.announce_room(user_id, room)
            await self.notify_members(room)
        return added

    async def announce_room(self, user_id: str, room: Room) -> None:
        """Tell a user's sockets about a room they may now enter (`agency-invited`)."""
        await self.broadcaster.emit_user(
            user_id, "agency-invited",
            {"agencyId": room.id, "agency": {"id": room.id, "name": room.name, "slug": room.slug}},
        )

    async def remove_member(self, room: Room, user_id: str) -> bool:
        """Take a user out of a room's members; a private room's sockets stop hearing it."""
        async with self.db.write() as session:
            removed = await leave_room(session, room.id, user_id)
            if removed:
                await unbind_agent(session, user_id, room_id=room.id)
                await self.events.member_changed(session, "member.left", room, user_id)
        if removed:
            if room.is_private:
                await self.broadcaster.remove_user_from_room(user_id, room.id)
            await self.notify_members(room)
        return removed

    async def bind(self, room: Room, agent_ref: str | None, by_user_id: str) -> Binding:
        """Bind the room to an agent of its house (None unbinds; see `bind_room`), then tell
        the room (`agency-updated`), and the agent if it joined the room for this."""
        async with self.db.write() as session:
            binding = await bind_room(session, room, agent_ref, by_user_id)
        await self.announce_binding(room, binding)
        return binding

    async def announce_binding(self, room: Room, binding: Binding) -> None:
        """Tell the room its binding changed (`agency-updated`), and the agent if it joined
        the room for it. Called after the binding is committed."""
        if binding.joined and binding.agent is not None:
            await self.announce_room(binding.agent.id, room)
            await self.notify_members(room)
        await self.broadcaster.emit_room(room.id, "agency-updated",
                                         room_view(room, binding=binding.view))

    async def notify_members(self, room: Room) -> None:
        """Send the room its current member list."""
        await self.broadcaster.emit_room(
            room.id, "members-updated",
            {"agencyId": room.id, "members": await self.members_payload(room)},
        )

    async def find_member_by_handle(self, house_id: str, handle: str) -> User | None:
        """The house member with this @handle (or username)."""
        async with self.db.read() as session:
            return await member_by_handle(session, house_id, handle)
