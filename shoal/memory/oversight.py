"""Seeing and steering an agent's memory (`/memory @agent`, GET /api/agents/{id}/memory):
for the agent's owner and the admins of its houses, and even for them only the notes from
rooms they can read themselves (and house-wide ones)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import or_, select

from shoal.errors import Forbidden, NotFound
from shoal.memory.notes import forget_note
from shoal.memory.scope import readable_rooms
from shoal.memory.tables import MemoryNote
from shoal.memory.vectors import VectorFilter
from shoal.rooms.access import RANK
from shoal.store.tables import HouseMember, User

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from shoal.memory.search import Hit, MemorySearch

LIST_LIMIT = 50


async def overseen(session: AsyncSession, caller_id: str, agent_id: str
                   ) -> dict[str, VectorFilter]:
    """What the caller may see of the agent's memory, by house; NotFound for an agent the
    caller does not share a house with, Forbidden for one they may not oversee."""
    bot = await session.get(User, agent_id)
    if bot is None or bot.kind != "bot" or bot.deleted_at is not None:
        raise NotFound("agent not found")
    roles = dict((await session.execute(select(HouseMember.house_id, HouseMember.role).where(
        HouseMember.user_id == caller_id,
        HouseMember.house_id.in_(select(HouseMember.house_id).where(
            HouseMember.user_id == agent_id))))).tuples().all())
    if not roles:
        raise NotFound("agent not found")
    houses = [h for h, r in roles.items()
              if bot.owner_id == caller_id or RANK[r] >= RANK["admin"]]
    if not houses:
        raise Forbidden("only the agent's owner or a house admin may see its memory")
    readable = await readable_rooms(session, caller_id)
    return {h: VectorFilter(frozenset(readable.get(h, set())), agent=agent_id, history=False)
            for h in houses}


async def agent_notes(session: AsyncSession, caller_id: str, agent_id: str,
                      limit: int = LIST_LIMIT) -> list[MemoryNote]:
    """The agent's notes the caller may see, newest first."""
    filters = await overseen(session, caller_id, agent_id)
    rooms = {r for f in filters.values() for r in f.rooms}
    return list((await session.scalars(
        select(MemoryNote).where(
            MemoryNote.house_id.in_(list(filters)),
            or_(MemoryNote.agent_id == agent_id, MemoryNote.created_by == agent_id),
            or_(MemoryNote.scope == "house", MemoryNote.room_id.in_(sorted(rooms) or [""])))
        .order_by(MemoryNote.created_at.desc()).limit(limit))).all())


async def search_agent_memory(search: MemorySearch, caller_id: str, agent_id: str, query: str,
                              limit: int = 20) -> list[Hit]:
    """The agent's notes (and house notes) matching the query, that the caller may see."""
    async with search.db.read() as session:
        filters = await overseen(session, caller_id, agent_id)
    hits: list[Hit] = []
    for house_id, where in filters.items():
        answer = await search.search(house_id, where, query, max_results=limit, min_score=0.1)
        hits.extend(answer.hits)
    return sorted(hits, key=lambda h: -h.score)[:limit]


async def forget_agent_note(session: AsyncSession, caller_id: str, agent_id: str,
                            note_id: str) -> None:
    """Delete one of the agent's notes that the caller may see; NotFound otherwise."""
    notes = await agent_notes(session, caller_id, agent_id, limit=10_000)
    note = next((n for n in notes if n.id == note_id), None)
    if note is None:
        raise NotFound(f"the agent has no note {note_id} that you can see")
    await forget_note(session, note)
