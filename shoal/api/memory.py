"""Search for people (GET /api/search) and an agent's memory for its owner and the house's
admins (GET /api/agents/{id}/memory, DELETE /api/agents/{id}/memory/{note_id})."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Response

from shoal.api.deps import PrincipalDep, ShoalDep
from shoal.api.openapi import errors
from shoal.memory import note_view
from shoal.memory.oversight import agent_notes, forget_agent_note, search_agent_memory
from shoal.memory.people import PeopleQuery

router = APIRouter(prefix="/api", tags=["memory"])

MAX_QUERY = 400


@router.get("/search", responses=errors(400, 404))
async def search_messages(
    principal: PrincipalDep,
    shoal: ShoalDep,
    q: str = Query(..., min_length=1, max_length=MAX_QUERY),
    roomId: str | None = None,  # noqa: N803 (the wire's spelling)
    from_: str | None = Query(None, alias="from", max_length=64),
    before: str | None = Query(None, max_length=36),
    limit: int = Query(20, ge=1, le=100),
) -> dict[str, Any]:
    """Messages in every room the caller can read (or one room) matching the words, newest
    first with highlighted snippets; `nextBefore` is the cursor of the next page. The first
    page adds the closest matches by meaning that the words missed, when vectors exist."""
    return await shoal.people_search.run(principal.id, PeopleQuery(
        q=q, room_id=roomId, sender=from_, before=before, limit=limit))


@router.get("/agents/{agent_id}/memory", responses=errors(403, 404))
async def agent_memory(agent_id: str, principal: PrincipalDep, shoal: ShoalDep,
                       q: str | None = Query(None, max_length=MAX_QUERY),
                       limit: int = Query(20, ge=1, le=50)) -> dict[str, Any]:
    """The agent's notes the caller may see (newest first), or those matching `q`."""
    if q is not None and q.strip():
        hits = await search_agent_memory(shoal.memory, principal.id, agent_id, q, limit=limit)
        return {"notes": [h.view() for h in hits]}
    async with shoal.db.read() as session:
        notes = await agent_notes(session, principal.id, agent_id, limit=limit)
    return {"notes": [note_view(n) for n in notes]}


@router.delete("/agents/{agent_id}/memory/{note_id}", status_code=204,
               responses=errors(403, 404))
async def forget_memory(agent_id: str, note_id: str, principal: PrincipalDep,
                        shoal: ShoalDep) -> Response:
    """Forget one of the agent's notes."""
    async with shoal.db.write() as session:
        await forget_agent_note(session, principal.id, agent_id, note_id)
    return Response(status_code=204)
