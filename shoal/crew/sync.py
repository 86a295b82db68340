"""What keeps a crew's CREW_UPDATE refresh and lead heartbeat on the scheduler: rows set when a
crew starts (in the caller's transaction), and a `CrewListener` the crew service tells of
members joining and crews changing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from shoal.crew import heartbeat, refresh
from shoal.crew.tables import Crew
from shoal.scheduler.service import due_times, remove_due, set_due

if TYPE_CHECKING:
    from shoal.crew.refresh import CrewRefresh
    from shoal.store import Database


async def schedule_crew(session: AsyncSession, crew: Crew, now: datetime) -> None:
    """Start a crew's refresh (first due one `refresh_seconds` from now) and its lead's
    heartbeat (first checked one `lead_idle_seconds` from now; paused if halted), in the
    caller's transaction. The caller wakes the scheduler after the commit."""
    await set_due(session, refresh.KIND, crew.id, now + timedelta(seconds=crew.refresh_seconds))
    await set_due(session, heartbeat.KIND, crew.id,
                  None if crew.heartbeat_halted
                  else now + timedelta(seconds=crew.lead_idle_seconds))


async def reschedule_crew(session: AsyncSession, crew: Crew, now: datetime) -> None:
    """Bring a changed crew's rows in line: gone when it ended; otherwise each due no later
    than one (possibly shortened) interval from now, without postponing one due sooner."""
    if crew.state != "active":
        await remove_due(session, refresh.KIND, crew.id)
        await remove_due(session, heartbeat.KIND, crew.id)
        return
    for kind, seconds in ((refresh.KIND, crew.refresh_seconds),
                          (heartbeat.KIND, crew.lead_idle_seconds)):
        latest = now + timedelta(seconds=seconds)
        due = (await due_times(session, kind, [crew.id])).get(crew.id)
        if kind == heartbeat.KIND and crew.heartbeat_halted:
            await set_due(session, kind, crew.id, None)
        elif due is None or due > latest:
            await set_due(session, kind, crew.id, latest)


class CrewSync:
    """The crew service's `CrewListener`: a joining agent and the receivers at work get a
    CREW_UPDATE; a changed crew's schedule rows follow it."""

    def __init__(self, db: Database, refresher: CrewRefresh, clock: Callable[[], datetime],
                 changed: Callable[[], None]) -> None:
        self.db = db
        self.refresher = refresher
        self.clock = clock  # the scheduler's
        self.changed = changed  # wakes the scheduler

    async def member_joined(self, crew_id: str, bot_id: str) -> None:
        """Called after the commit that added the member."""
        await self.refresher.member_joined(crew_id, bot_id)

    async def crew_changed(self, crew_id: str) -> None:
        """Called after the commit that changed the crew (its settings, its state)."""
        async with self.db.write() as session:
            crew = await session.get(Crew, crew_id)
            if crew is None:
                await remove_due(session, refresh.KIND, crew_id)
                await remove_due(session, heartbeat.KIND, crew_id)
            else:
                await reschedule_crew(session, crew, self.clock())
        self.changed()
