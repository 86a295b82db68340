"""Houses and their members: roles and per-house @handles."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.errors import InvalidInput, NotFound
from shoal.rooms.access import ROLES
from shoal.rooms.faces import face
from shoal.rooms.mentions import MAX_HANDLE_LENGTH, normalize_handle, slugify
from shoal.store.tables import House, HouseMember, User, iso
from shoal.webhooks.queue import queue_event

MAX_HOUSE_NAME = 64


def check_role(role: object) -> str:
    """A house role, or InvalidInput naming the roles."""
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
    return str(role)


def check_house_name(name: object) -> str:
    """A house's trimmed name, or InvalidInput."""
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > MAX_HOUSE_NAME:
        raise InvalidInput(f"house name must be 1-{MAX_HOUSE_NAME} characters")
    return name.strip()


async def create_house(
    session: AsyncSession, name: str, owner: User | None, *, is_default: bool = False
) -> House:
    """A new house, with its owner as first member."""
    name = check_house_name(name or "")
    slug = base = slugify(name)
    n = 1
    while await session.scalar(select(House.id).where(House.slug == slug)):
        n += 1
        slug = f"{base}-{n}"
    house = House(name=name, slug=slug, is_default=is_default, settings={})
    session.add(house)
    await session.flush()
    if owner is not None:
        await add_house_member(session, house.id, owner, "owner")
    return house


async def default_house(session: AsyncSession) -> House | None:
    """The house new users join."""
    return await session.scalar(select(House).where(House.is_default.is_(True)).limit(1))


async def unique_handle(session: AsyncSession, house_id: str, wanted: str) -> str:
    """`wanted` if free in the house, else the first free `wanted-N`."""
    base = wanted[:MAX_HANDLE_LENGTH - 4]
    taken = set(
        (
            await session.scalars(
                select(HouseMember.handle).where(
                    HouseMember.house_id == house_id, HouseMember.handle.like(f"{base}%")
                )
            )
        ).all()
    )
    handle, n = base, 1
    while handle in taken:
        n += 1
        handle = f"{base}-{n}"
    return handle


async def add_house_member(
    session: AsyncSession, house_id: str, user: User, role: str = "member"
) -> HouseMember:
    """Make the user a member of the house (idempotent); a bot's handle is its username."""
    check_role(role)
    existing = await session.get(HouseMember, (house_id, user.id))
    if existing is not None:
        return existing
    wanted = user.username.lower() if user.kind == "bot" else slugify(user.display_name)
    member = HouseMember(
        house_id=house_id,
        user_id=user.id,
        role=role,
        handle=await unique_handle(session, house_id, wanted),
    )
    session.add(member)
    await session.flush()
    await queue_event(session, "member.joined", house_id=house_id, member=member_view(member, user))
    return member


async def member_by_handle(session: AsyncSession, house_id: str, handle: str) -> User | None:
    """The house member written as this @handle (or as their username)."""
    handle = normalize_handle(handle.lstrip("@"))
    return await session.scalar(
        select(User)
        .join(HouseMember, HouseMember.user_id == User.id)
        .where(HouseMember.house_id == house_id,
               or_(HouseMember.handle == handle, User.username_key == handle))
    )


async def get_house(session: AsyncSession, house_id: str) -> House:
    """The house, or NotFound."""
    house = await session.get(House, house_id)
    if house is None:
        raise NotFound("house not found")
    return house


async def houses_of(session: AsyncSession, user_id: str) -> list[tuple[House, str]]:
    """The houses the user belongs to, with their role in each."""
    rows = await session.execute(
        select(House, HouseMember.role)
        .join(HouseMember, HouseMember.house_id == House.id)
        .where(HouseMember.user_id == user_id)
        .order_by(House.created_at)
    )
    return [row.tuple() for row in rows]


async def house_members(session: AsyncSession, house_id: str) -> list[tuple[HouseMember, User]]:
    """Everyone in the house with their user record, people first then bots, by handle."""
    rows = await session.execute(
        select(HouseMember, User)
        .join(User, User.id == HouseMember.user_id)
        .where(HouseMember.house_id == house_id, User.deleted_at.is_(None))
        .order_by(User.kind.desc(), HouseMember.handle)
    )
    return [row.tuple() for row in rows]


async def count_members(session: AsyncSession, house_id: str) -> int:
    """How many members the house has."""
    return await session.scalar(
        select(func.count()).select_from(HouseMember).where(HouseMember.house_id == house_id)
    ) or 0


def house_view(house: House, role: str | None = None) -> dict[str, Any]:
    """A house as the API shows it."""
    view: dict[str, Any] = {
        "id": house.id,
        "name": house.name,
        "slug": house.slug,
        "description": house.description,
        "is_default": house.is_default,
        "created_at": iso(house.created_at),
    }
    if role is not None:
        view["role"] = role
    return view


def member_view(member: HouseMember, user: User, online: bool | None = None) -> dict[str, Any]:
    """A house member as the API and the socket events show it."""
    view: dict[str, Any] = {
        "id": user.id,
        "username": user.username,
        "handle": member.handle,
        "display_name": user.display_name,
        "role": member.role,
        "type": "agent" if user.kind == "bot" else "user",
        **face(user),
    }
    if online is not None:
        view["online"] = online or runs_in_shoal(user)
    return view


def runs_in_shoal(user: User) -> bool:
    """Whether Shoal itself runs this member (a builtin bot), so it answers whenever a
    worker runs, with no socket of its own: it counts as online."""
    return (user.kind == "bot" and user.deleted_at is None
            and (user.config or {}).get("runtime", "builtin") == "builtin")
