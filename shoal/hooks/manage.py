"""Creating, changing, rotating and revoking hooks. A hook's key is shown once and kept as its
hash; its secret is kept encrypted and never shown again after it was generated."""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.crypto import SecretBox, hash_token, new_token
from shoal.errors import Conflict, InvalidInput, NotFound, Unauthorized
from shoal.hooks.sources import SOURCES
from shoal.hooks.tables import Hook
from shoal.hooks.template import check_template
from shoal.rooms.access import room_access
from shoal.store.tables import Room, iso, utcnow

KEY_PREFIX = "shk"
MAX_ROOMS = 50
SECRET_CHARS = (8, 256)
MAX_HOOK_NAME = 64


def check_hook_name(name: object) -> str:
    """A hook's name: what its messages show as their sender."""
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > MAX_HOOK_NAME:
        raise InvalidInput(f"name must be 1-{MAX_HOOK_NAME} characters")
    return name.strip()


def check_secret(secret: object) -> str:
    """A signing secret a sender was given (GitHub) or gave (Sentry's client secret)."""
    low, high = SECRET_CHARS
    if not isinstance(secret, str) or not low <= len(secret) <= high:
        raise InvalidInput(f"secret must be {low}-{high} characters")
    return secret


async def resolve_rooms(session: AsyncSession, viewer_id: str | None, house_id: str,
                        refs: list[str]) -> list[str]:
    """Room ids for ids or slugs of rooms of the house that the viewer can see (the operator,
    viewer None, sees them all); a room the viewer cannot see reads as unknown."""
    if not refs:
        raise InvalidInput("rooms must name at least one room")
    if len(refs) > MAX_ROOMS:
        raise InvalidInput(f"a hook posts to at most {MAX_ROOMS} rooms")
    ids: dict[str, None] = {}
    for ref in refs:
        room = await session.scalar(select(Room).where(
            Room.house_id == house_id, (Room.id == ref) | (Room.slug == ref.lstrip("#"))))
        if room is None or (viewer_id is not None
                            and not (await room_access(session, viewer_id, room.id)).can_see_room):
            raise InvalidInput(f"rooms: {ref[:80]!r} is not a room of this house")
        if room.is_dm:
            raise InvalidInput("rooms: a hook cannot post into a direct message")
        ids.setdefault(room.id, None)
    return list(ids)


async def _check_name_free(session: AsyncSession, house_id: str, name: str,
                           hook_id: str | None = None) -> None:
    taken = await session.scalar(select(Hook.id).where(
        Hook.house_id == house_id, Hook.name == name, Hook.revoked_at.is_(None),
        Hook.id != (hook_id or "")))
    if taken:
        raise Conflict(f"this house already has a hook called {name!r}")


async def create_hook(session: AsyncSession, box: SecretBox, *, house_id: str,
                      creator_id: str | None, name: str, room_ids: list[str], template: str,
                      secret: str | None) -> tuple[Hook, str, str | None]:
    """A new hook; returns it, its key, and its secret when Shoal generated it."""
    await _check_name_free(session, house_id, name)
    generated = None if secret is not None else secrets.token_urlsafe(32)
    key = new_token(KEY_PREFIX)
    hook = Hook(house_id=house_id, name=name, key_hash=hash_token(key), room_ids=room_ids,
                secret=box.encrypt(secret or generated or ""),
                template=check_template(template), created_by=creator_id)
    session.add(hook)
    await session.flush()
    return hook, key, generated


async def house_hook(session: AsyncSession, house_id: str, hook_id: str) -> Hook:
    """A hook of the house, revoked or not."""
    hook = await session.get(Hook, hook_id)
    if hook is None or hook.house_id != house_id:
        raise NotFound("hook not found")
    return hook


def live(hook: Hook) -> Hook:
    """The hook, unless it was revoked."""
    if hook.revoked_at is not None:
        raise Conflict("this hook has been revoked; create a new one")
    return hook


async def update_hook(session: AsyncSession, box: SecretBox, hook: Hook, *,
                      name: str | None, room_ids: list[str] | None, template: str | None,
                      secret: str | None) -> Hook:
    """Change what was given; the key stays."""
    live(hook)
    if name is not None:
        await _check_name_free(session, hook.house_id, name, hook.id)
        hook.name = name
    if room_ids is not None:
        hook.room_ids = room_ids
    if template is not None:
        hook.template = check_template(template)
    if secret is not None:
        hook.secret = box.encrypt(secret)
    return hook


def rotate_key(hook: Hook) -> str:
    """Give the hook a new key; the old one stops working at once."""
    live(hook)
    key = new_token(KEY_PREFIX)
    hook.key_hash = hash_token(key)
    hook.rotated_at = utcnow()
    return key


def revoke(hook: Hook) -> Hook:
    """Stop the hook for good; revoking twice is harmless."""
    if hook.revoked_at is None:
        hook.revoked_at = utcnow()
    return hook


async def hook_by_key(session: AsyncSession, key: str) -> Hook:
    """The live hook a key belongs to, or Unauthorized."""
    hook = await session.scalar(select(Hook).where(Hook.key_hash == hash_token(key)))
    if hook is None:
        raise Unauthorized("invalid hook key")
    if hook.revoked_at is not None:
        raise Unauthorized("this hook has been revoked")
    return hook


def key_matches(hook: Hook, key: str) -> bool:
    """Whether a presented key is this hook's key."""
    return hmac.compare_digest(hash_token(key), hook.key_hash)


def hook_view(hook: Hook) -> dict[str, Any]:
    """A hook as the API shows it: never its key or secret."""
    return {
        "id": hook.id,
        "house_id": hook.house_id,
        "name": hook.name,
        "room_ids": list(hook.room_ids),
        "template": hook.template,
        "created_by": hook.created_by,
        "created_at": iso(hook.created_at),
        "rotated_at": iso(hook.rotated_at),
        "revoked_at": iso(hook.revoked_at),
        "endpoints": {"messages": "/api/hooks/messages",
                      **{source: f"/api/hooks/{hook.id}/{source}" for source in SOURCES}},
    }
