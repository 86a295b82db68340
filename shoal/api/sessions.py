"""An agent's sessions: its working memory per room, cron job and sub-agent, turn by turn,
for those who may read the session's room; and each as JSON Lines."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from sqlalchemy import exists, func, or_, select

from shoal.api.deps import PrincipalDep, ShoalDep
from shoal.errors import InvalidInput, NotFound
from shoal.rooms.access import Action, house_access, room_access
from shoal.runtime.session_tables import AgentSession, SessionTurn
from shoal.runtime.sessions import jsonl, parse_session_key, session_view, turn_view
from shoal.store.tables import MAX_INTEGER, HouseMember, Room, RoomMember, User

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from shoal.store import Database

router = APIRouter(prefix="/api/agents", tags=["agents"])
DEFAULT_TURNS = 200
MAX_TURNS = 1000
EXPORT_PAGE = 500


@router.get("/{agent_id}/sessions")
async def agent_sessions(
    agent_id: str,
    principal: PrincipalDep,
    shoal: ShoalDep,
    room_id: str | None = Query(None, alias="roomId"),
) -> list[dict[str, Any]]:
    """The agent's sessions in the rooms the caller may read, most recently used first."""
    async with shoal.db.read() as session:
        await _visible_agent(session, agent_id, principal.id)
        in_room = exists().where(RoomMember.room_id == Room.id,
                                 RoomMember.user_id == principal.id)
        viewer_houses = select(HouseMember.house_id).where(HouseMember.user_id == principal.id)
        query = (select(AgentSession).join(Room, Room.id == AgentSession.room_id)
                 .where(AgentSession.bot_id == agent_id,
                        Room.house_id.in_(viewer_houses),
                        or_(Room.is_private.is_(False), in_room)))
        if room_id is not None:
            query = query.where(AgentSession.room_id == room_id)
        rows = (await session.scalars(query.order_by(AgentSession.updated_at.desc()))).all()
    return [session_view(row) for row in rows]


@router.get("/{agent_id}/sessions/{key}")
async def agent_session(
    agent_id: str,
    key: str,
    principal: PrincipalDep,
    shoal: ShoalDep,
    after: int = Query(0, ge=0, le=MAX_INTEGER,
                       description="only turns numbered after this one"),
    limit: int = Query(DEFAULT_TURNS, ge=1, le=MAX_TURNS),
) -> dict[str, Any]:
    """One session with its turns in order (every turn kept, the summaries among them),
    and `context_tokens`, the size of what the model sees now (newest summary onward)."""
    async with shoal.db.read() as session:
        row = await _readable_session(session, agent_id, key, principal.id)
        turns = (await session.scalars(
            select(SessionTurn).where(SessionTurn.session_id == row.id,
                                      SessionTurn.index > after)
            .order_by(SessionTurn.index).limit(limit))).all()
        summary = (await session.execute(
            select(SessionTurn.covers_to, SessionTurn.tokens).where(
                SessionTurn.session_id == row.id, SessionTurn.role == "summary")
            .order_by(SessionTurn.index.desc()).limit(1))).first()
        covered, size = (summary[0] or 0, summary[1]) if summary is not None else (0, 0)
        size += await session.scalar(
            select(func.coalesce(func.sum(SessionTurn.tokens), 0)).where(
                SessionTurn.session_id == row.id, SessionTurn.index > covered,
                SessionTurn.role != "summary")) or 0
    view = session_view(row, int(size))
    view["turns"] = [turn_view(t) for t in turns]
    view["next_after"] = turns[-1].index if len(turns) == limit else None
    return view


@router.get("/{agent_id}/sessions/{key}/export", response_class=StreamingResponse,
            responses={200: {"description": "one turn a line, oldest first",
                             "content": {"application/x-ndjson": {
                                 "schema": {"type": "string"}}}}})
async def export_session(agent_id: str, key: str, principal: PrincipalDep, shoal: ShoalDep
                         ) -> StreamingResponse:
    """Every turn of the session as JSON Lines (one turn a line, oldest first)."""
    async with shoal.db.read() as session:
        row = await _readable_session(session, agent_id, key, principal.id)
    name = key.replace(":", "-")
    return StreamingResponse(
        _export(shoal.db, row.id), media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="session-{name}.jsonl"'})


async def _export(db: Database, session_id: str) -> AsyncIterator[str]:
    after = 0
    while True:
        async with db.read() as session:
            rows = (await session.scalars(
                select(SessionTurn).where(SessionTurn.session_id == session_id,
                                          SessionTurn.index > after)
                .order_by(SessionTurn.index).limit(EXPORT_PAGE))).all()
        for line in jsonl(rows):
            yield line
        if len(rows) < EXPORT_PAGE:
            return
        after = rows[-1].index


async def _visible_agent(session: AsyncSession, agent_id: str, viewer_id: str) -> None:
    """NotFound unless the agent is a bot in a house the caller may see."""
    bot = await session.get(User, agent_id)
    houses = (await session.scalars(
        select(HouseMember.house_id).where(HouseMember.user_id == agent_id))).all()
    visible = [h for h in houses
               if (await house_access(session, viewer_id, h)).allows(Action.VIEW_HOUSE)]
    if bot is None or bot.kind != "bot" or not visible:
        raise NotFound("agent not found")


async def _readable_session(session: AsyncSession, agent_id: str, key: str, viewer_id: str
                            ) -> AgentSession:
    """The session, if the caller may read its room; else NotFound, saying no more."""
    try:
        parse_session_key(key)
    except InvalidInput as exc:  # no such session: the key says what keys look like
        raise NotFound(f"session not found: {exc.message}") from None
    await _visible_agent(session, agent_id, viewer_id)
    row = await session.scalar(select(AgentSession).where(AgentSession.bot_id == agent_id,
                                                          AgentSession.key == key))
    if row is None or not (await room_access(session, viewer_id, row.room_id)).allows(
            Action.READ):
        raise NotFound("session not found")
    return row
