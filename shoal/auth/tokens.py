"""Issued tokens: sessions, personal access tokens, bot tokens and agent sessions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.crypto import hash_token, new_token
from shoal.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from shoal.store.tables import Token, User, iso, utcnow

# The prefix tells a leaked token's kind at a glance (and lets secret scanners find it).
PREFIXES = {"session": "shs", "pat": "shp", "bot": "shb", "agent": "sha"}
LAST_USED_RESOLUTION = timedelta(minutes=1)
_EXPIRY = re.compile(r"^(\d{1,5})([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
UNVERIFIED_BOT = (
    "this agent is not verified yet: its owner or a house admin must verify it before its "
    "token can be used"
)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the user (person or bot) and the token they presented."""

    user: User
    token_id: str
    token_kind: str

    @property
    def id(self) -> str:
        """The caller's user id."""
        return self.user.id


def parse_expiry(text: str | None, default: timedelta | None = None) -> datetime | None:
    """Turn "30d", "12h", "2w", "never" (or nothing) into an expiry time."""
    if text is None or text == "":
        return utcnow() + default if default else None
    if text == "never":
        return None
    match = _EXPIRY.match(text.strip())
    if not match:
        raise InvalidInput('expires must look like "30d", "12h", "2w", "90m" or "never"')
    amount, unit = int(match.group(1)), match.group(2)
    if amount == 0:
        raise InvalidInput("expires must be at least one unit long")
    return utcnow() + timedelta(**{_UNITS[unit]: amount})


async def issue_token(
    session: AsyncSession,
    user_id: str,
    kind: str,
    *,
    name: str | None = None,
    expires_at: datetime | None = None,
) -> tuple[Token, str]:
    """Create a token and return its row and its plaintext, which is never stored."""
    plaintext = new_token(PREFIXES[kind])
    token = Token(
        user_id=user_id,
        kind=kind,
        name=name,
        token_hash=hash_token(plaintext),
        expires_at=expires_at,
    )
    session.add(token)
    await session.flush()
    return token, plaintext


async def find_token(session: AsyncSession, plaintext: str) -> tuple[Token, User]:
    """The live token and its user for a presented token: Unauthorized when it is unknown,
    revoked or expired, Forbidden while it belongs to a bot nobody has verified yet."""
    row = (
        await session.execute(
            select(Token, User)
            .join(User, User.id == Token.user_id)
            .where(Token.token_hash == hash_token(plaintext))
        )
    ).first()
    if row is None:
        raise Unauthorized("invalid token")
    token, user = row.tuple()
    if token.revoked_at is not None:
        raise Unauthorized("token has been revoked")
    if token.expires_at is not None and token.expires_at <= utcnow():
        raise Unauthorized("token has expired")
    if user.deleted_at is not None:
        raise Unauthorized("account no longer exists")
    if user.kind == "bot" and not user.verified:
        raise Forbidden(UNVERIFIED_BOT)
    return token, user


def needs_last_used_update(token: Token) -> bool:
    """Whether last_used_at is stale enough to be worth a write."""
    return token.last_used_at is None or utcnow() - token.last_used_at >= LAST_USED_RESOLUTION


async def touch_token(session: AsyncSession, token_id: str) -> None:
    """Record that a token was used just now."""
    await session.execute(update(Token).where(Token.id == token_id).values(last_used_at=utcnow()))


async def revoke_user_token(session: AsyncSession, user_id: str, token_id: str) -> Token:
    """Revoke one of the user's tokens; revoking twice is harmless."""
    token = await session.get(Token, token_id)
    if token is None or token.user_id != user_id:
        raise NotFound("token not found")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
    return token


async def revoke_tokens_of(
    session: AsyncSession, user_id: str, kinds: tuple[str, ...]
) -> list[str]:
    """Revoke every live token of these kinds for a user; returns their ids."""
    ids = list(
        (
            await session.scalars(
                select(Token.id).where(
                    Token.user_id == user_id, Token.kind.in_(kinds), Token.revoked_at.is_(None)
                )
            )
        ).all()
    )
    if ids:
        await session.execute(update(Token).where(Token.id.in_(ids)).values(revoked_at=utcnow()))
    return ids


def token_view(token: Token) -> dict[str, object]:
    """A token as the API shows it: never its value or hash."""
    return {
        "id": token.id,
        "name": token.name,
        "kind": token.kind,
        "created_at": iso(token.created_at),
        "expires_at": iso(token.expires_at),
        "last_used_at": iso(token.last_used_at),
        "revoked_at": iso(token.revoked_at),
    }

