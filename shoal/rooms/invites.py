"""House invites: codes that let someone register into, or join, a house."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.crypto import hash_token, new_token
from shoal.errors import Forbidden, InvalidInput, NotFound
from shoal.rooms.access import RANK
from shoal.rooms.houses import add_house_member, member_view
from shoal.store.tables import MAX_INTEGER, HouseMember, Invite, User, iso, utcnow
from shoal.webhooks.queue import queue_event

INVITE_ROLES = ("guest", "member", "admin")  # owners are made, not invited


def check_invite_role(role: object) -> str:
    """A role an invite may grant, or InvalidInput."""
    if role not in INVITE_ROLES:
        raise InvalidInput("an invite grants guest, member or admin")
    return str(role)


def check_max_uses(max_uses: object) -> int:
    """How many times an invite may be used, or InvalidInput."""
    if isinstance(max_uses, bool) or not isinstance(max_uses, int) \
            or not 1 <= max_uses <= MAX_INTEGER:
        raise InvalidInput(f"max_uses must be from 1 to {MAX_INTEGER}")
    return max_uses


async def create_invite(
    session: AsyncSession,
    house_id: str,
    creator_id: str | None,
    creator_role: str,
    *,
    role: str = "member",
    expires_at: datetime | None = None,
    max_uses: int | None = None,
) -> tuple[Invite, str]:
    """A new invite; the code is returned once and stored only as a hash."""
    check_invite_role(role)
    if role == "admin" and creator_role != "owner":
        raise Forbidden("only an owner may invite admins, as only an owner may make them")
    if RANK[role] > RANK[creator_role]:
        raise Forbidden("an invite cannot grant more than your own role")
    if max_uses is not None:
        check_max_uses(max_uses)
    code = new_token("shi")
    invite = Invite(house_id=house_id, code_hash=hash_token(code), role=role,
                    created_by=creator_id, expires_at=expires_at, max_uses=max_uses)
    session.add(invite)
    await session.flush()
    await queue_event(session, "invite.created", house_id=house_id, invite=invite_view(invite),
                      by=creator_id)
    return invite, code


async def redeem_invite(session: AsyncSession, code: str, user: User) -> HouseMember:
    """Use an invite: the user joins its house with its role."""
    invite = await session.scalar(select(Invite).where(Invite.code_hash == hash_token(code)))
    if invite is None or invite.revoked_at is not None:
        raise Forbidden("that invite code is not valid")
    if invite.expires_at is not None and invite.expires_at <= utcnow():
        raise Forbidden("that invite code has expired")
    if invite.max_uses is not None and invite.uses >= invite.max_uses:
        raise Forbidden("that invite code has been used up")
    await session.execute(update(Invite).where(Invite.id == invite.id)
                          .values(uses=Invite.uses + 1))
    member = await add_house_member(session, invite.house_id, user, invite.role)
    await queue_event(session, "invite.redeemed", house_id=invite.house_id,
                      invite=invite_view(invite), member=member_view(member, user))
    return member


async def revoke_invite(session: AsyncSession, house_id: str, invite_id: str) -> Invite:
    """Stop an invite from working."""
    invite = await session.get(Invite, invite_id)
    if invite is None or invite.house_id != house_id:
        raise NotFound("invite not found")
    invite.revoked_at = invite.revoked_at or utcnow()
    return invite


def invite_view(invite: Invite) -> dict[str, Any]:
    """An invite as the API shows it, without its code."""
    return {"id": invite.id, "house_id": invite.house_id, "role": invite.role,
            "uses": invite.uses, "max_uses": invite.max_uses,
            "created_at": iso(invite.created_at), "expires_at": iso(invite.expires_at),
            "revoked_at": iso(invite.revoked_at)}
