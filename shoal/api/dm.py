"""Direct messages: two-member private rooms."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from shoal.api.deps import PrincipalDep, ShoalDep
from shoal.api.openapi import errors
from shoal.auth.accounts import user_view
from shoal.rooms.rooms import dms_of, open_dm, room_view

router = APIRouter(prefix="/api/dm", tags=["dm"])


@router.get("")
async def list_dms(principal: PrincipalDep, shoal: ShoalDep) -> list[dict[str, Any]]:
    """The caller's DMs, each with the other participant."""
    async with shoal.db.read() as session:
        rows = await dms_of(session, principal.id)
    return [{"agency": room_view(r, is_member=True), "user": user_view(u)} for r, u in rows]


@router.post("/{user_id}", responses=errors(400))
async def start_dm(user_id: str, principal: PrincipalDep, shoal: ShoalDep) -> dict[str, Any]:
    """The DM room with a user who shares a house with you, created on first use."""
    async with shoal.db.write() as session:
        room, created = await open_dm(session, principal.user, user_id)
    if created:
        invited = {"agencyId": room.id, "agency": {"id": room.id, "name": room.name,
                                                   "slug": room.slug}, "dm": True}
        await shoal.gateway.emit_user(user_id, "agency-invited", invited)
    return {"agency": room_view(room, is_member=True), "created": created}
