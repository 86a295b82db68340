"""A crew's activity feed: every crew event recorded in the transaction that makes it, and told
to the room's sockets (and to the crew's listener) once that transaction commits.

`record` is the one way to add an event. Code that records inside `CrewFeed.write()` (or a
session it `watch`es) has it broadcast after the commit, never after a rollback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import event, select

from shoal.crew.roles import house_roles
from shoal.crew.status import crew_status
from shoal.crew.tables import Crew, CrewActivity, CrewTask
from shoal.crew.views import activity_view, crew_view, handles, task_counts, task_view
from shoal.ids import new_id
from shoal.store.tables import House, utcnow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession
    from sqlalchemy.orm import Session

    from shoal.realtime.gateway import Gateway
    from shoal.store import Database

log = logging.getLogger("shoal.crew")

# The kinds of CrewActivity, shared with CREW_UPDATE's filters.
KINDS = ("crew_started", "crew_ended", "goal_changed", "member_joined", "member_left",
         "status_change", "task_created", "task_updated", "report", "file_edit",
         "message_to_lead", "dm", "group_message", "lock_acquired", "lock_released",
         "lock_denied", "error", "nudge", "heartbeat_halted", "heartbeat_resumed",
         "heartbeat_backoff", "model_denied")
# Socket events to the crew's room.
ACTIVITY_EVENT = "crew-activity"  # {crewId, activity}
UPDATED_EVENT = "crew-updated"  # {crew}: the crew with its members, locks and task counts
TASK_EVENT = "crew-task"  # {crewId, task}: a card created or changed
PENDING = "shoal.crew.pending"


class CrewListener(Protocol):
    """Told after a commit when an agent joined a crew and when a crew changed (members,
    tasks, locks, settings); CREW_UPDATE's refresher listens."""

    async def member_joined(self, crew_id: str, bot_id: str) -> None:
        """An agent joined (or joined again)."""
        ...

    async def crew_changed(self, crew_id: str) -> None:
        """Anything about the crew changed."""
        ...


class NoListener:
    """The listener when nothing listens."""

    async def member_joined(self, crew_id: str, bot_id: str) -> None:
        """Nothing to do."""

    async def crew_changed(self, crew_id: str) -> None:
        """Nothing to do."""


@dataclass
class Pending:
    """What a transaction changed, to tell once it commits."""

    activity: list[CrewActivity] = field(default_factory=list)
    changed: set[str] = field(default_factory=set)
    tasks: dict[str, CrewTask] = field(default_factory=dict)
    joined: list[tuple[str, str]] = field(default_factory=list)


def pending(session: AsyncSession) -> Pending:
    """The session's changes not yet told."""
    found = session.info.get(PENDING)
    if found is None:
        found = session.info[PENDING] = Pending()
    return found


def record(session: AsyncSession, crew_id: str, actor_id: str | None, kind: str,
           summary: str, data: dict[str, Any] | None = None, *,
           at: datetime | None = None) -> CrewActivity:
    """Add one event to a crew's feed in the caller's transaction (`at`: when, if not now;
    the scheduler's kinds pass their clock's time)."""
    if kind not in KINDS:
        raise ValueError(f"unknown crew activity kind {kind!r}")
    row = CrewActivity(id=new_id(), crew_id=crew_id, actor_id=actor_id, kind=kind,
                       summary=summary, data=data or {}, at=at or utcnow())
    session.add(row)
    changes = pending(session)
    changes.activity.append(row)
    changes.changed.add(crew_id)
    return row


def changed(session: AsyncSession, crew_id: str, *, task: CrewTask | None = None,
            joined: str | None = None) -> None:
    """Note a change to tell after the commit: the crew, a task card, an agent joining."""
    changes = pending(session)
    changes.changed.add(crew_id)
    if task is not None:
        changes.tasks[task.id] = task
    if joined is not None:
        changes.joined.append((crew_id, joined))


class CrewFeed:
    """Broadcasts what crew transactions recorded to the crews' rooms after they commit, and
    tells the listener."""

    def __init__(self, db: Database, gateway: Gateway,
                 listener: CrewListener | None = None) -> None:
        self.db = db
        self.gateway = gateway
        self.listener: CrewListener = listener or NoListener()
        self._telling: set[asyncio.Task[None]] = set()
        # Each broadcast reads the crew again before it emits, and those reads can finish in
        # any order; taking this (first-come) lock keeps the broadcasts in commit order.
        self._in_order = asyncio.Lock()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A write transaction whose crew changes are told once it commits."""
        async with self.db.write() as session:
            self.watch(session)
            yield session

    def watch(self, session: AsyncSession) -> None:
        """Tell this session's crew changes after it commits (once per session)."""
        if session.info.get("shoal.crew.watched"):
            return
        session.info["shoal.crew.watched"] = True
        loop = asyncio.get_running_loop()

        def committed(sync: Session) -> None:
            changes = sync.info.pop(PENDING, None)
            sync.info.pop("shoal.crew.watched", None)
            if changes is None:
                return
            task = loop.create_task(self._tell(changes))
            self._telling.add(task)
            task.add_done_callback(self._telling.discard)

        def rolled_back(sync: Session) -> None:
            sync.info.pop(PENDING, None)
            sync.info.pop("shoal.crew.watched", None)

        event.listen(session.sync_session, "after_commit", committed, once=True)
        event.listen(session.sync_session, "after_rollback", rolled_back, once=True)

    async def settle(self) -> None:
        """Wait until every broadcast under way went out."""
        while self._telling:
            await asyncio.gather(*list(self._telling), return_exceptions=True)

    async def _tell(self, changes: Pending) -> None:
        try:
            async with self._in_order:
                await self._broadcast(changes)
        except Exception:
            log.exception("crew changes could not be broadcast")
        for crew_id, bot_id in changes.joined:
            try:
                await self.listener.member_joined(crew_id, bot_id)
            except Exception:
                log.exception("the crew listener failed on a member joining crew %s", crew_id)
        for crew_id in changes.changed:
            try:
                await self.listener.crew_changed(crew_id)
            except Exception:
                log.exception("the crew listener failed on a change of crew %s", crew_id)

    async def _broadcast(self, changes: Pending) -> None:
        async with self.db.read() as session:
            crews = {c.id: c for c in (await session.scalars(
                select(Crew).where(Crew.id.in_(sorted(changes.changed))))).all()}
            house_ids = {c.house_id for c in crews.values()}
            ids = {a.actor_id for a in changes.activity if a.actor_id} | {
                t.assignee_id for t in changes.tasks.values() if t.assignee_id} | {
                t.updated_by for t in changes.tasks.values() if t.updated_by}
            names: dict[str, str] = {}
            for house_id in house_ids:
                names.update(await handles(session, house_id, ids))
            roles = {}
            for house_id in house_ids:
                house = await session.get(House, house_id)
                roles[house_id] = house_roles((house.settings or {}).get("crew_roles")
                                              if house else None)
            views = {crew_id: crew_view(crew, await crew_status(session, crew),
                                        roles[crew.house_id], await task_counts(session, crew_id))
                     for crew_id, crew in crews.items()}
        for row in changes.activity:
            crew = crews.get(row.crew_id)
            if crew is not None:
                await self.gateway.emit_room(crew.room_id, ACTIVITY_EVENT, {
                    "crewId": crew.id, "activity": activity_view(row, names)})
        for task in changes.tasks.values():
            crew = crews.get(task.crew_id)
            if crew is not None:
                await self.gateway.emit_room(crew.room_id, TASK_EVENT, {
                    "crewId": crew.id, "task": task_view(task, names)})
        for crew_id, view in views.items():
            await self.gateway.emit_room(crews[crew_id].room_id, UPDATED_EVENT, {"crew": view})
