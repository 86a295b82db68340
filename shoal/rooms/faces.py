"""A face for every member: an avatar (an uploaded image, or one drawn from the handle) and,
for bots, an emoji (`identity.emoji` in the bot's configuration)."""

from __future__ import annotations

import hashlib
from html import escape
from typing import Any

from shoal.store.tables import User

AVATAR_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
MAX_AVATAR_BYTES = 2 * 1024 * 1024


def avatar_id(user: User) -> str | None:
    """The attachment holding the member's uploaded avatar, if any."""
    value = (user.config or {}).get("avatar")
    return value if isinstance(value, str) else None


def avatar_url(user: User) -> str:
    """Where the member's avatar is served; it changes when a new one is uploaded."""
    uploaded = avatar_id(user)
    return f"/api/users/{user.id}/avatar" + (f"?v={uploaded}" if uploaded else "")


def emoji_of(user: User) -> str | None:
    """A bot's emoji (its `identity.emoji`); people have none."""
    if user.kind != "bot":
        return None
    identity = (user.config or {}).get("identity")
    emoji = identity.get("emoji") if isinstance(identity, dict) else None
    return emoji if isinstance(emoji, str) and emoji else None


def face(user: User) -> dict[str, Any]:
    """The fields every view of a member carries."""
    return {"avatar_url": avatar_url(user), "emoji": emoji_of(user)}


def initials(name: str) -> str:
    """Up to two letters for a name: "Archive Bot" -> "AB", "ada" -> "A"."""
    words = [w for w in name.replace("-", " ").replace("_", " ").split() if w[:1].isalnum()]
    letters = "".join(w[0] for w in words[:2]).upper()
    return letters or "?"


def generated_avatar(user: User) -> str:
    """An SVG avatar: the member's initials on a colour chosen by their id's hash, the same
    everywhere and for every viewer."""
    digest = hashlib.sha256(user.id.encode()).digest()
    hue = int.from_bytes(digest[:2], "big") % 360
    text = escape(initials(user.display_name or user.username))
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" width="64" height="64">'
        f'<rect width="64" height="64" rx="32" fill="hsl({hue} 55% 45%)"/>'
        '<text x="32" y="33" text-anchor="middle" dominant-baseline="central" '
        'font-family="system-ui, sans-serif" font-size="26" font-weight="600" fill="#fff">'
        f"{text}</text></svg>")
