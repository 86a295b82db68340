"""Rooms ("agencies" on the wire): creation, listing, membership and DMs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.errors import Forbidden, InvalidInput, NotFound
from shoal.rooms.mentions import slugify
from shoal.store.tables import House, HouseMember, Room, RoomMember, User, iso
from shoal.webhooks.queue import queue_event

MAX_ROOM_NAME = 64
MAX_CHARTER = 4000


def check_room_name(name: object) -> str:
    """A trimmed room name, or InvalidInput."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("name is required")
    name = name.strip()
    if len(name) > MAX_ROOM_NAME:
        raise InvalidInput(f"name must be at most {MAX_ROOM_NAME} characters")
    return name


def check_charter(charter: object) -> str:
    """A charter text, or InvalidInput."""
    if charter is None:
        return ""
    if not isinstance(charter, str):
        raise InvalidInput("charter must be a string")
    if len(charter) > MAX_CHARTER:
        raise InvalidInput(f"charter must be at most {MAX_CHARTER} characters")
    return charter


async def create_room(
    session: AsyncSession,
    house_id: str,
    name: str,
    creator_id: str | None,
    *,
    charter: str = "",
    is_private: bool = False,
    is_dm: bool = False,
) -> Room:
    """A new room in the house; its creator becomes its first member."""
    name = check_room_name(name)
    slug = base = slugify(name)
    n = 1
    while await session.scalar(
        select(Room.id).where(Room.house_id == house_id, Room.slug == slug)
    ):
        n += 1
        slug = f"{base}-{n}"
    room = Room(
        house_id=house_id,
        name=name,
        slug=slug,
        charter=check_charter(charter),
        is_private=is_private,
        is_dm=is_dm,
        created_by=creator_id,
    )
    session.add(room)
    await session.flush()
    if creator_id is not None:
        session.add(RoomMember(room_id=room.id, user_id=creator_id))
        await session.flush()
    await queue_event(session, "agency.created", room=room, agency=room_view(room), by=creator_id)
    return room


async def join_room(session: AsyncSession, room_id: str, user_id: str) -> bool:
    """Add the user to the room's members; False if they already were."""
    if await session.get(RoomMember, (room_id, user_id)) is not None:
        return False
    session.add(RoomMember(room_id=room_id, user_id=user_id))
    await session.flush()
    return True


async def default_room(session: AsyncSession, house_id: str) -> Room | None:
    """Where a house's newcomers start: its oldest public room (Home's #lobby), if any."""
    return await session.scalar(
        select(Room).where(Room.house_id == house_id, Room.is_private.is_(False),
                           Room.is_dm.is_(False))
        .order_by(Room.created_at, Room.id).limit(1))


async def join_default_room(session: AsyncSession, house_id: str, user_id: str
                            ) -> Room | None:
    """Make a newcomer to the house a member of its default room; returns that room."""
    room = await default_room(session, house_id)
    if room is not None:
        await join_room(session, room.id, user_id)
    return room


async def leave_room(session: AsyncSession, room_id: str, user_id: str) -> bool:
    """Remove the user from the room's members; False if they were not one."""
    member = await session.get(RoomMember, (room_id, user_id))
    if member is None:
        return False
    await session.delete(member)
    await session.flush()
    return True


async def visible_rooms(
    session: AsyncSession, user_id: str, house_id: str | None = None
) -> list[tuple[Room, bool, int]]:
    """Rooms the user may see (public rooms of their houses, private rooms they are in),
    with whether they joined and the member count; DMs excluded."""
    counts = (
        select(RoomMember.room_id, func.count().label("n"))
        .group_by(RoomMember.room_id)
        .subquery()
    )
    mine = select(RoomMember.room_id).where(RoomMember.user_id == user_id)
    query = (
        select(Room, Room.id.in_(mine), func.coalesce(counts.c.n, 0))
        .join(HouseMember, and_(HouseMember.house_id == Room.house_id,
                                HouseMember.user_id == user_id))
        .outerjoin(counts, counts.c.room_id == Room.id)
        .where(Room.is_dm.is_(False), or_(Room.is_private.is_(False), Room.id.in_(mine)))
        .order_by(Room.created_at)
    )
    if house_id is not None:
        query = query.where(Room.house_id == house_id)
    return [row.tuple() for row in await session.execute(query)]


async def room_members(session: AsyncSession, room: Room) -> list[tuple[HouseMember, User]]:
    """Who is in a room: its joined members, with their house role and handle."""
    rows = await session.execute(
        select(HouseMember, User)
        .join(User, User.id == HouseMember.user_id)
        .join(RoomMember, and_(RoomMember.user_id == User.id, RoomMember.room_id == room.id))
        .where(HouseMember.house_id == room.house_id, User.deleted_at.is_(None))
        .order_by(User.kind.desc(), HouseMember.handle)
    )
    return [row.tuple() for row in rows]


async def shared_house(session: AsyncSession, a: str, b: str) -> House:
    """A house both users belong to, the default house first; Forbidden when none."""
    other = select(HouseMember.house_id).where(HouseMember.user_id == b)
    house = await session.scalar(
        select(House)
        .join(HouseMember, HouseMember.house_id == House.id)
        .where(HouseMember.user_id == a, House.id.in_(other))
        .order_by(House.is_default.desc(), House.created_at)
        .limit(1)
    )
    if house is None:
        raise Forbidden("you share no house with that user")
    return house


async def find_dm(session: AsyncSession, a: str, b: str) -> Room | None:
    """The direct-message room between two users, if it exists."""
    of_b = select(RoomMember.room_id).where(RoomMember.user_id == b)
    return await session.scalar(
        select(Room)
        .join(RoomMember, RoomMember.room_id == Room.id)
        .where(Room.is_dm.is_(True), RoomMember.user_id == a, Room.id.in_(of_b))
        .limit(1)
    )


async def open_dm(session: AsyncSession, me: User, other_id: str) -> tuple[Room, bool]:
    """The DM room with another user, created on first use; True when it is new."""
    if other_id == me.id:
        raise InvalidInput("you cannot open a DM with yourself")
    other = await session.get(User, other_id)
    if other is None or other.deleted_at is not None:
        raise NotFound("user not found")
    existing = await find_dm(session, me.id, other.id)
    if existing is not None:
        return existing, False
    house = await shared_house(session, me.id, other.id)
    first, second = sorted([me.username, other.username])
    room = await create_room(
        session, house.id, f"dm-{first}-{second}", me.id, is_private=True, is_dm=True
    )
    await join_room(session, room.id, other.id)
    return room, True


async def dms_of(session: AsyncSession, user_id: str) -> list[tuple[Room, User]]:
    """The user's DM rooms, each with the other participant."""
    mine = select(RoomMember.room_id).where(RoomMember.user_id == user_id)
    rows = await session.execute(
        select(Room, User)
        .join(RoomMember, RoomMember.room_id == Room.id)
        .join(User, User.id == RoomMember.user_id)
        .where(Room.is_dm.is_(True), Room.id.in_(mine), RoomMember.user_id != user_id)
        .order_by(Room.created_at)
    )
    return [row.tuple() for row in rows]


def room_view(room: Room, *, is_member: bool | None = None, member_count: int | None = None,
              binding: dict[str, Any] | None = None) -> dict[str, Any]:
    """A room as the API shows it (the contract's agency object, plus house, seq and the
    agent it is bound to: `binding`, see shoal.rooms.bindings)."""
    view: dict[str, Any] = {
        "id": room.id,
        "slug": room.slug,
        "name": room.name,
        "charter": room.charter,
        "is_private": room.is_private,
        "isPrivate": room.is_private,
        "dm": room.is_dm,
        "house_id": room.house_id,
        "last_seq": room.last_seq,
        "created_at": iso(room.created_at),
        "binding": binding,
    }
    if is_member is not None:
        view["isMember"] = is_member
    if member_count is not None:
        view["member_count"] = member_count
    return view
