"""The lead's `halt_heartbeat` and `resume_heartbeat` tools (group `crew`), offered to an agent
that leads an active crew in the room it works in."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from shoal.crew.heartbeat import set_halted
from shoal.crew.tables import Crew
from shoal.errors import ShoalError
from shoal.tools.base import Tool, ToolError, ToolList, ToolScope

if TYPE_CHECKING:
    from shoal.crew.activity import CrewFeed

CREW_GROUP = "crew"
NO_ARGUMENTS: dict[str, Any] = {"type": "object", "properties": {}}


class HeartbeatTools:
    """A ToolSource: the heartbeat's two tools, for the lead of the room's active crew."""

    def __init__(self, feed: CrewFeed, clock: Callable[[], datetime],
                 changed: Callable[[], None]) -> None:
        self.feed = feed
        self.db = feed.db
        self.clock = clock  # the scheduler's
        self.changed = changed  # wakes the scheduler after a change

    async def tools(self, scope: ToolScope) -> ToolList:
        """The two tools if the bot leads an active crew in this room; else none."""
        async with self.db.read() as session:
            crew_id = await session.scalar(select(Crew.id).where(
                Crew.room_id == scope.room_id, Crew.state == "active",
                Crew.lead_bot_id == scope.bot.id).limit(1))
        if crew_id is None:
            return ToolList()
        return ToolList([
            Tool("halt_heartbeat", "Pause the crew heartbeat's reminders to you (sent when you "
                 "are idle with tasks undone) until you call resume_heartbeat or a person "
                 "resumes it.", NO_ARGUMENTS, (CREW_GROUP,),
                 lambda args: self._set(scope, crew_id, True)),
            Tool("resume_heartbeat", "Resume the crew heartbeat's reminders to you.",
                 NO_ARGUMENTS, (CREW_GROUP,), lambda args: self._set(scope, crew_id, False)),
        ])

    async def _set(self, scope: ToolScope, crew_id: str, halted: bool) -> str:
        try:
            async with self.feed.write() as session:
                crew = await session.get(Crew, crew_id)
                if crew is None:
                    raise ToolError("the crew no longer exists")
                await set_halted(session, crew, halted, actor_id=scope.bot.id,
                                 now=self.clock())
        except ShoalError as exc:
            raise ToolError(exc.message) from None
        self.changed()
        return ("The heartbeat is halted: no reminders until you call resume_heartbeat."
                if halted else "The heartbeat is running again.")
