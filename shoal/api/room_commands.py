"""The slash commands a caller may run in a room, with their usage: what a composer offers
when someone types `/`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from shoal.api.deps import PrincipalDep, ShoalDep
from shoal.rooms.access import Action, authorize_room

router = APIRouter(prefix="/api", tags=["agencies"])


@router.get("/agencies/{agency_id}/commands")
async def room_commands(agency_id: str, principal: PrincipalDep, shoal: ShoalDep
                        ) -> list[dict[str, Any]]:
    """Commands the caller's role lets them run in this room (the house's own included),
    by name, with usage."""
    async with shoal.db.read() as session:
        access = await authorize_room(session, principal.id, agency_id, Action.READ)
    commands = await shoal.commands.available(access.house_id)
    return [
        {"name": c.name, "usage": c.usage, "description": c.description,
         "example": c.example, "builtin": c.is_builtin}
        for c in commands if access.allows(c.action)
    ]
