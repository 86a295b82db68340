"""First-run setup: the default house, its lobby and, for the demo, an owner account."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import func, select

from shoal.auth.accounts import create_person
from shoal.auth.passwords import Passwords
from shoal.rooms.houses import add_house_member, create_house, default_house
from shoal.rooms.rooms import create_room, join_room
from shoal.store.db import Database
from shoal.store.tables import House, HouseMember, Room


@dataclass(frozen=True)
class Bootstrap:
    """What first-run setup did; `password` is set only when it created the owner just now."""

    house: House
    lobby: Room | None
    owner_username: str | None
    password: str | None


async def ensure_home(
    db: Database, *, owner_username: str | None = None, passwords: Passwords | None = None
) -> Bootstrap:
    """Make sure the default house "Home" with a public `lobby` exists; with `owner_username`,
    also make sure it has that owner, creating them with a random password on first run."""
    password = secrets.token_urlsafe(12) if owner_username else None
    password_hash = await (passwords or Passwords()).hash(password) if password else None
    created = False
    async with db.write() as session:
        house = await default_house(session)
        if house is None:
            house = await create_house(session, "Home", None, is_default=True)
            await create_room(session, house.id, "lobby", None, charter="Say hello.")
        lobby = await session.scalar(
            select(Room).where(Room.house_id == house.id, Room.slug == "lobby")
        )
        owners = await session.scalar(
            select(func.count()).select_from(HouseMember)
            .where(HouseMember.house_id == house.id, HouseMember.role == "owner")
        )
        if owner_username and password_hash and not owners:
            created = True
            owner = await create_person(session, owner_username, password_hash, "Owner")
            await add_house_member(session, house.id, owner, "owner")
            if lobby is not None:
                await join_room(session, lobby.id, owner.id)
    return Bootstrap(house, lobby, owner_username, password if created else None)
