"""Pushing CREW_UPDATE into receivers' sessions: every crew's `refresh_seconds` on the
scheduler (kind `crew_refresh`, one row per crew) to receivers that are not idle, when an agent
joins, and when a member's context is compacted.

The block is a user turn added to the agent's session (its room session, or its sub-agent
session if it was spawned into the crew), never a message in the room: the agent's next model
call sees it, even in the middle of a run."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.crew.roles import Role, read_roles
from shoal.crew.status import CrewStatus, crew_status, crews_due
from shoal.crew.tables import Crew, CrewMember
from shoal.crew.update import SECRETARY, crew_update
from shoal.llm import ChatMessage
from shoal.runtime.sessions import append_turns, open_session, session_key
from shoal.scheduler.timing import next_interval_time

if TYPE_CHECKING:
    from shoal.runtime.compaction import CompactionEvent
    from shoal.scheduler.service import Fired
    from shoal.scheduler.tables import Schedule
    from shoal.store import Database

log = logging.getLogger("shoal.crew")

KIND = "crew_refresh"


@dataclass(frozen=True)
class Delivery:
    """One block for one receiver: whose session (in which house and room), and the text."""

    bot_id: str
    house_id: str
    room_id: str
    key: str
    text: str


def receives(roles: dict[str, Role], role: str) -> bool:
    """Whether a member in this role gets CREW_UPDATE (an unknown role does not)."""
    found = roles.get(role)
    return found is not None and found.receives_updates


def member_session_key(crew: Crew, member: CrewMember) -> str:
    """The session a member works in for the crew: its sub-agent's, or its room session."""
    if member.subagent_id:
        return session_key("subagent", member.subagent_id)
    return session_key("room", crew.room_id)


class Blocks:
    """The blocks of one refresh, built once per filter (the secretary's, everyone else's)."""

    def __init__(self, session: AsyncSession, status: CrewStatus) -> None:
        self.session = session
        self.status = status
        self._built: dict[bool, str] = {}

    async def for_role(self, role: str) -> str:
        """The block a receiver in this role reads."""
        secretary = role == SECRETARY
        if secretary not in self._built:
            self._built[secretary] = await crew_update(self.session, self.status, role)
        return self._built[secretary]


class CrewRefresh:
    """The scheduler's `crew_refresh` kind, and the pushes on joining and compaction."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def advance(self, session: AsyncSession, rows: list[Schedule], now: datetime) -> None:
        """Move each crew's refresh to its next time; an ended or deleted crew's row goes."""
        crews = await crews_due(session, [r.target_id for r in rows])
        for row in rows:
            crew = crews.get(row.target_id)
            if crew is None or crew.state != "active":
                await session.delete(row)
                continue
            assert row.due_at is not None
            row.due_at = next_interval_time(row.due_at, crew.refresh_seconds, now)

    async def fire(self, fired: list[Fired]) -> None:
        """A refresh round for each crew due."""
        await asyncio.gather(*(self.refresh(item.target_id) for item in fired))

    async def refresh(self, crew_id: str, *, joined: str | None = None) -> int:
        """Push the block to each of the crew's receivers that is not idle (and to `joined`,
        an agent that just joined, whatever its status). Returns how many were sent."""
        sent = 0
        try:
            for item in await self._plan(crew_id, joined):
                sent += await push(self.db, item)
        except Exception:
            log.exception("the CREW_UPDATE refresh of crew %s failed", crew_id)
        return sent

    async def member_joined(self, crew_id: str, bot_id: str) -> None:
        """An agent joined: it gets the block (if its role receives them), and so does every
        receiver at work, who learns of the newcomer."""
        await self.refresh(crew_id, joined=bot_id)

    async def compacted(self, event: CompactionEvent) -> None:
        """A compaction listener: a member whose context was compacted in a crew's room gets
        the block in that session at once (its run goes on with it)."""
        async with self.db.read() as session:
            found = (await session.execute(
                select(Crew, CrewMember).join(CrewMember, CrewMember.crew_id == Crew.id)
                .where(Crew.room_id == event.room_id, Crew.state == "active",
                       CrewMember.bot_id == event.bot_id, CrewMember.left_at.is_(None))
            )).tuples().all()
            texts = []
            for crew, member in found:
                if receives(await read_roles(session, crew.house_id), member.role):
                    status = await crew_status(session, crew)
                    texts.append(await crew_update(session, status, member.role))
        for text in texts:
            await append_turns(self.db, event.session_id, [ChatMessage("user", text)])

    async def _plan(self, crew_id: str, joined: str | None) -> list[Delivery]:
        """Who gets a block now, and which, read in one transaction."""
        async with self.db.read() as session:
            crew = await session.get(Crew, crew_id)
            if crew is None or crew.state != "active":
                return []
            roles = await read_roles(session, crew.house_id)
            status = await crew_status(session, crew)
            members = {m.bot_id: m for m in await session.scalars(
                select(CrewMember).where(CrewMember.crew_id == crew.id,
                                         CrewMember.left_at.is_(None)))}
            blocks = Blocks(session, status)
            out = []
            for member in status.members:
                row = members.get(member.bot_id)
                if row is None or not receives(roles, member.role):
                    continue
                if member.status == "running" or member.bot_id == joined:
                    out.append(Delivery(member.bot_id, crew.house_id, crew.room_id,
                                        member_session_key(crew, row),
                                        await blocks.for_role(member.role)))
        return out


async def push(db: Database, item: Delivery) -> bool:
    """Add the block to the receiver's session as a user turn (a room session is made if the
    agent has none yet). A sub-agent's session must start with its task, so one that has not
    started gets none (its first comes with the next refresh while it works)."""
    agent_session = await open_session(db, item.bot_id, item.house_id, item.room_id, item.key)
    if agent_session.kind == "subagent" and agent_session.turn_count == 0:
        return False
    await append_turns(db, agent_session.id, [ChatMessage("user", item.text)])
    return True
