"""People and bots: validation and creation of user records."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.errors import Conflict, InvalidInput
from shoal.rooms.mentions import slugify
from shoal.store.tables import User

# ASCII only: a username is a handle, and no letter of another script may pass for one.
USERNAME = re.compile(r"[A-Za-z0-9_-]{2,24}")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
MAX_DISPLAY_NAME = 64


def check_username(username: object) -> str:
    """A valid username, or InvalidInput saying what the rule is."""
    if not isinstance(username, str) or not USERNAME.fullmatch(username):
        raise InvalidInput("username must be 2-24 characters of letters, digits, _ and -")
    return username


def check_password(password: object) -> str:
    """A valid password, or InvalidInput."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise InvalidInput(f"password must be at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(f"password must be at most {MAX_PASSWORD} characters")
    return password


def check_display_name(name: object, fallback: str) -> str:
    """A trimmed display name, or the fallback when none was given."""
    if name is None or name == "":
        return fallback
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("displayName must be a non-empty string")
    name = name.strip()
    if len(name) > MAX_DISPLAY_NAME:
        raise InvalidInput(f"displayName must be at most {MAX_DISPLAY_NAME} characters")
    return name


async def user_by_username(session: AsyncSession, username: str) -> User | None:
    """The user with this username, compared without case."""
    return await session.scalar(select(User).where(User.username_key == username.lower()))


async def create_person(
    session: AsyncSession, username: str, password_hash: str, display_name: str | None = None
) -> User:
    """A new person (their password already checked and hashed); Conflict when the username
    is taken."""
    username = check_username(username)
    name = check_display_name(display_name, username)
    if await user_by_username(session, username) is not None:
        raise Conflict(f"username {username!r} is taken")
    user = User(
        username=username,
        username_key=username.lower(),
        display_name=name,
        kind="human",
        password_hash=password_hash,
    )
    session.add(user)
    await session.flush()
    return user


def check_bot_name(name: object) -> str:
    """A bot's trimmed name, or InvalidInput."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("name is required")
    if len(name.strip()) > MAX_DISPLAY_NAME:
        raise InvalidInput(f"name must be at most {MAX_DISPLAY_NAME} characters")
    return name.strip()


async def create_bot(
    session: AsyncSession, name: str, owner_id: str | None, *, verified: bool = False
) -> User:
    """A new bot whose username is the slug of its name, made unique with a number."""
    name = check_bot_name(name)
    base = slugify(name)[:20]
    if len(base) < 2:
        base = f"{base}-bot"
    username = base
    suffix = 1
    while await user_by_username(session, username) is not None:
        suffix += 1
        username = f"{base}-{suffix}"
    bot = User(
        username=username,
        username_key=username.lower(),
        display_name=name,
        kind="bot",
        owner_id=owner_id,
        verified=verified,
        config={},
    )
    session.add(bot)
    await session.flush()
    return bot


def user_view(user: User) -> dict[str, object]:
    """A user as the API shows it."""
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "displayName": user.display_name,
        "type": "agent" if user.kind == "bot" else "user",
        "kind": user.kind,
        "verified": user.verified,
    }
