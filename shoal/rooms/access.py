"""The one authorization function: every REST call and socket event asks it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.errors import Forbidden, NotFound
from shoal.store.db import Prepared, run_core
from shoal.store.tables import HouseMember, Room, RoomMember, detached

ROLES = ("guest", "member", "admin", "owner")
RANK = {role: rank for rank, role in enumerate(ROLES)}


class Action(StrEnum):
    """What a caller wants to do; each needs a minimum house role."""

    READ = "read"  # see a room and its history, join it live
    POST = "post"  # send messages, run commands, show typing
    MODERATE = "moderate"  # edit or delete others' messages, change room settings
    VIEW_HOUSE = "view_house"  # see a house, its members and its room list
    CREATE_ROOM = "create_room"
    MANAGE_MEMBERS = "manage_members"  # roles, removals, house invites
    MANAGE_SCHEDULES = "manage_schedules"  # heartbeats and cron jobs
    MANAGE_HOUSE = "manage_house"
    MANAGE_HOOKS = "manage_hooks"  # create, change, rotate and revoke inbound hooks


MIN_ROLE = {
    Action.READ: "guest",
    Action.POST: "member",
    Action.MODERATE: "admin",
    Action.VIEW_HOUSE: "guest",
    Action.CREATE_ROOM: "member",
    Action.MANAGE_MEMBERS: "admin",
    Action.MANAGE_SCHEDULES: "admin",
    Action.MANAGE_HOUSE: "owner",
    Action.MANAGE_HOOKS: "admin",
}
ROOM_ACTIONS = {Action.READ, Action.POST, Action.MODERATE}


@dataclass(frozen=True)
class Access:
    """What the store knows about one caller's standing in a house and, maybe, a room."""

    user_id: str
    house_id: str
    role: str | None
    room: Room | None = None
    in_room: bool = False
    handle: str | None = None  # the caller's @handle in the house

    @property
    def can_see_room(self) -> bool:
        """Public rooms are open to house members; private rooms to their own members."""
        if self.role is None or self.room is None:
            return False
        return self.in_room if self.room.is_private else True

    def allows(self, action: Action) -> bool:
        """Whether the action is allowed, without raising."""
        try:
            authorize(self, action)
        except (Forbidden, NotFound):
            return False
        return True


def authorize(access: Access, action: Action) -> None:
    """Allow the action or raise: NotFound when the caller may not even see the target,
    Forbidden when they see it but their role is too low."""
    if action in ROOM_ACTIONS:
        if not access.can_see_room:
            raise NotFound("room not found")
    elif access.role is None:
        raise NotFound("house not found")
    assert access.role is not None
    needed = MIN_ROLE[action]
    if RANK[access.role] < RANK[needed]:
        raise Forbidden(f"your role ({access.role}) may not {action.value.replace('_', ' ')}; "
                        f"it needs {needed} or above")


async def house_access(session: AsyncSession, user_id: str, house_id: str) -> Access:
    """The caller's standing in a house."""
    role = await session.scalar(
        select(HouseMember.role).where(
            HouseMember.house_id == house_id, HouseMember.user_id == user_id
        )
    )
    return Access(user_id=user_id, house_id=house_id, role=role)


async def room_access(session: AsyncSession, user_id: str, room_id: str) -> Access:
    """The caller's standing in a room, loaded in one query; NotFound for an unknown room."""
    row = (
        await session.execute(
            select(Room, HouseMember.role, HouseMember.handle, RoomMember.user_id)
            .outerjoin(
                HouseMember,
                (HouseMember.house_id == Room.house_id) & (HouseMember.user_id == user_id),
            )
            .outerjoin(
                RoomMember, (RoomMember.room_id == Room.id) & (RoomMember.user_id == user_id)
            )
            .where(Room.id == room_id)
        )
    ).first()
    if row is None:
        raise NotFound("room not found")
    room, role, handle, member = row.tuple()
    return Access(user_id=user_id, house_id=room.house_id, role=role, room=room,
                  in_room=member is not None, handle=handle)


_ROOMS = Room.__table__
# The message append path asks it for every post.
_STANDING = Prepared(
    select(_ROOMS, HouseMember.role, HouseMember.handle, RoomMember.user_id.label("in_room"))
    .outerjoin(HouseMember, (HouseMember.house_id == _ROOMS.c.house_id)
               & (HouseMember.user_id == bindparam("user_id")))
    .outerjoin(RoomMember, (RoomMember.room_id == _ROOMS.c.id)
               & (RoomMember.user_id == bindparam("user_id")))
    .where(_ROOMS.c.id == bindparam("room_id")))
_ROOMS_BY_ID = select(_ROOMS).where(_ROOMS.c.id.in_(bindparam("room_ids", expanding=True)))


async def room_access_to_read(session: AsyncSession, user_id: str, room_id: str) -> Access:
    """`room_access` from one prepared statement, whose room is a copy outside the session:
    for callers that read the room and never change it."""
    rows = await _STANDING.rows(session, {"user_id": user_id, "room_id": room_id})
    if not rows:
        raise NotFound("room not found")
    fields = dict(zip(_STANDING.keys, rows[0], strict=True))
    room = _room_copy(fields)
    return Access(user_id=user_id, house_id=room.house_id, role=fields["role"], room=room,
                  in_room=fields["in_room"] is not None, handle=fields["handle"])


async def rooms_to_read(session: AsyncSession, room_ids: set[str]) -> dict[str, Room]:
    """The rooms that exist among these, by id, as copies outside the session (see
    `room_access_to_read`), in one query."""
    if not room_ids:
        return {}
    rows = await run_core(session, _ROOMS_BY_ID, {"room_ids": sorted(room_ids)})
    return {row.id: _room_copy(row._mapping) for row in rows}


def _room_copy(fields: Any) -> Room:
    return detached(Room, {column.key: fields[column.key] for column in _ROOMS.columns})


async def authorize_room(
    session: AsyncSession, user_id: str, room_id: str, action: Action
) -> Access:
    """Load the caller's standing in a room and authorize the action in one step."""
    access = await room_access(session, user_id, room_id)
    authorize(access, action)
    return access


async def authorize_house(
    session: AsyncSession, user_id: str, house_id: str, action: Action
) -> Access:
    """Load the caller's standing in a house and authorize the action in one step."""
    access = await house_access(session, user_id, house_id)
    authorize(access, action)
    return access
