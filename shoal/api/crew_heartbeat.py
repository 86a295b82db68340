"""The lead's heartbeat of a crew over REST: see it (anyone who can read the room) and halt or
resume it (anyone who can post there), as the lead does with its tools."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from shoal.api.deps import PrincipalDep, ShoalDep
from shoal.api.openapi import errors
from shoal.crew.heartbeat import heartbeat_view, set_halted
from shoal.rooms.access import Action

router = APIRouter(prefix="/api", tags=["crews"])


class HeartbeatChange(BaseModel):
    halted: bool = Field(description="true halts the nudges; false resumes them (and clears "
                                     "a backoff)")


@router.get("/crews/{crew_id}/heartbeat")
async def get_heartbeat(crew_id: str, principal: PrincipalDep, shoal: ShoalDep
                        ) -> dict[str, Any]:
    """Whether the lead's heartbeat is halted or backed off, and when it next checks."""
    async with shoal.db.read() as session:
        crew, _ = await shoal.crews.load(session, crew_id, principal.id)
        return await heartbeat_view(session, crew)


@router.patch("/crews/{crew_id}/heartbeat", responses=errors(409))
async def change_heartbeat(crew_id: str, body: HeartbeatChange, principal: PrincipalDep,
                           shoal: ShoalDep) -> dict[str, Any]:
    """Halt the lead's heartbeat, or resume it."""
    async with shoal.crew_feed.write() as session:
        crew, _ = await shoal.crews.load(session, crew_id, principal.id, Action.POST)
        await set_halted(session, crew, body.halted, actor_id=principal.id,
                         now=shoal.scheduler.clock())
        view = await heartbeat_view(session, crew)
    shoal.scheduler.wake()
    return view
