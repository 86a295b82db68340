"""The lead's heartbeat: a scheduler kind (`crew_nudge`, one row per crew) that nudges an
idle lead while tasks remain undone.

At each check (inside the scheduler's claim, so a nudge is queued exactly once however many
schedulers share the database) the crew's lead gets an activation of trigger kind `crew` with a
short reminder and the open tasks when: the crew is active and its heartbeat not halted, a task
is not done, the lead has no work pending or running in the room, and it has been idle for
`lead_idle_seconds`. After `MAX_UNANSWERED` nudges in a row that the lead did not answer (no
reply in the room, no crew activity of its own), the heartbeat backs off and tells the room
once; it starts again when the lead acts. `halt_heartbeat` pauses it until the lead or a person
resumes it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.crew.activity import record
from shoal.crew.roles import LEAD
from shoal.crew.status import LIVE_ACTIVATIONS, crews_due
from shoal.crew.tables import Crew, CrewActivity, CrewTask
from shoal.errors import Conflict, ShoalError
from shoal.scheduler.service import due_times, set_due
from shoal.store.tables import Activation, HouseMember, iso, utcnow

if TYPE_CHECKING:
    from shoal.crew.activity import CrewFeed
    from shoal.rooms.chat import Chat
    from shoal.scheduler.service import Fired
    from shoal.scheduler.tables import Schedule
    from shoal.store import Database

log = logging.getLogger("shoal.crew")

KIND = "crew_nudge"
TRIGGER_KIND = "crew"
MAX_UNANSWERED = 3
OPEN_TASKS_LISTED = 30  # a nudge lists at most this many open tasks
SENDER_NAME = "Crew"


async def last_nudge(session: AsyncSession, crew: Crew) -> Activation | None:
    """The newest nudge the crew's lead got."""
    return await session.scalar(
        select(Activation).where(Activation.bot_id == crew.lead_bot_id,
                                 Activation.trigger_kind == TRIGGER_KIND,
                                 Activation.crew_id == crew.id)
        .order_by(Activation.created_at.desc()).limit(1))


async def lead_acted_since(session: AsyncSession, crew: Crew, since: datetime) -> bool:
    """Whether the lead did something since then: replied in the room, recorded crew
    activity of its own (a task, a report, a message, a lock), or was marked active."""
    if crew.lead_active_at is not None and crew.lead_active_at > since:
        return True
    replied = exists().where(Activation.bot_id == crew.lead_bot_id,
                             Activation.room_id == crew.room_id,
                             Activation.outcome == "replied", Activation.finished_at > since)
    worked = exists().where(CrewActivity.crew_id == crew.id, CrewActivity.at > since,
                            CrewActivity.actor_id == crew.lead_bot_id)
    return bool(await session.scalar(select(or_(replied, worked))))


async def open_tasks(session: AsyncSession, crew_id: str
                     ) -> tuple[int, list[tuple[CrewTask, str | None]]]:
    """How many of the crew's tasks are not done, and the oldest `OPEN_TASKS_LISTED` of them
    with their assignees' handles."""
    count = await session.scalar(select(func.count()).select_from(CrewTask).where(
        CrewTask.crew_id == crew_id, CrewTask.status != "done")) or 0
    listed: list[tuple[CrewTask, str | None]] = list((await session.execute(
        select(CrewTask, HouseMember.handle)
        .join(Crew, Crew.id == CrewTask.crew_id)
        .outerjoin(HouseMember, and_(HouseMember.user_id == CrewTask.assignee_id,
                                     HouseMember.house_id == Crew.house_id))
        .where(CrewTask.crew_id == crew_id, CrewTask.status != "done")
        .order_by(CrewTask.created_at, CrewTask.id).limit(OPEN_TASKS_LISTED)
    )).tuples().all()) if count else []
    return count, listed


def nudge_prompt(crew: Crew, idle: timedelta, count: int,
                 tasks: list[tuple[CrewTask, str | None]]) -> str:
    """The reminder the lead reads: how long it has been idle and the open tasks."""
    minutes = max(1, int(idle.total_seconds() // 60))
    lines = [f"[Crew heartbeat] You lead the crew working on: {crew.goal}",
             f"You have been idle for {minutes} min and {count} task(s) are not done. "
             "Check on the crew and move the work on: assign, unblock or do the next task. "
             "(halt_heartbeat pauses these reminders.)", "Open tasks:"]
    for task, handle in tasks:
        who = f"@{handle}" if handle else "unassigned"
        lines.append(f"- [{task.status}] {task.title} ({who}; id {task.id})")
    if count > len(tasks):
        lines.append(f"… and {count - len(tasks)} more (crew_tasks lists them).")
    return "\n".join(lines)


def backoff_notice(handle: str | None, open_count: int) -> str:
    """What the room is told, once, when the heartbeat backs off. It names the lead without
    an @mention, which would wake it."""
    lead = f"The crew's lead ({handle})" if handle else "The crew's lead"
    return (f"{lead} has not answered {MAX_UNANSWERED} reminders in a row, with {open_count} "
            f"task(s) still open. The lead's heartbeat stops nudging until the lead acts "
            f"again.")


def _record(session: AsyncSession, crew: Crew, kind: str, summary: str, now: datetime,
            actor_id: str | None = None, data: dict[str, Any] | None = None) -> None:
    record(session, crew.id, actor_id, kind, summary, data, at=now)


async def set_halted(session: AsyncSession, crew: Crew, halted: bool, *, actor_id: str,
                     now: datetime) -> None:
    """Halt the lead's heartbeat, or resume it (checked at once, with no nudge unanswered),
    in the caller's transaction; the caller wakes the scheduler after the commit."""
    if crew.state != "active":
        raise Conflict("the crew has ended; its heartbeat is off")
    if crew.heartbeat_halted == halted:
        raise Conflict(f"the lead's heartbeat is already {'halted' if halted else 'running'}")
    crew.heartbeat_halted = halted
    crew.updated_at = now
    if actor_id == crew.lead_bot_id:
        crew.lead_active_at = now
    if halted:
        _record(session, crew, "heartbeat_halted", "Heartbeat halted", now, actor_id)
        await set_due(session, KIND, crew.id, None)
    else:
        crew.unanswered_nudges = 0
        _record(session, crew, "heartbeat_resumed", "Heartbeat resumed", now, actor_id)
        await set_due(session, KIND, crew.id, now)


async def heartbeat_view(session: AsyncSession, crew: Crew) -> dict[str, Any]:
    """The lead's heartbeat as the API shows it."""
    due = (await due_times(session, KIND, [crew.id])).get(crew.id)
    return {"crew_id": crew.id, "lead_id": crew.lead_bot_id, "halted": crew.heartbeat_halted,
            "lead_idle_seconds": crew.lead_idle_seconds,
            "unanswered_nudges": crew.unanswered_nudges,
            "backed_off": crew.unanswered_nudges >= MAX_UNANSWERED,
            "next_check_at": iso(due) if crew.state == "active" else None}


class LeadHeartbeat:
    """The scheduler's `crew_nudge` kind. A nudge is queued inside the claim (as cron's
    turns are); firing wakes the worker and posts the rare backoff notice."""

    def __init__(self, db: Database, chat: Chat, wake_worker: Callable[[], None],
                 feed: CrewFeed) -> None:
        self.db = db
        self.feed = feed  # tells the room of nudges and backoffs once the claim commits
        self.chat = chat
        self.wake_worker = wake_worker
        # Backoff notices decided in a claim, posted when it fires: (crew, due time) -> room
        # and text. The claim is this process's alone, so each is posted once.
        self._notices: dict[tuple[str, datetime], tuple[str, str]] = {}

    async def advance(self, session: AsyncSession, rows: list[Schedule], now: datetime) -> None:
        """Check each crew's lead: nudge it, back off, or just look again later."""
        self.feed.watch(session)
        crews = await crews_due(session, [r.target_id for r in rows])
        for row in rows:
            crew = crews.get(row.target_id)
            if crew is None or crew.state != "active":
                await session.delete(row)
            elif crew.heartbeat_halted:
                row.due_at = None
            else:
                assert row.due_at is not None
                row.due_at = await self._check(session, crew, row.due_at, now)

    async def _check(self, session: AsyncSession, crew: Crew, due_at: datetime,
                     now: datetime) -> datetime:
        """Do what the crew's state calls for; returns when to look again."""
        step = timedelta(seconds=crew.lead_idle_seconds)
        busy = await session.scalar(select(exists().where(
            Activation.bot_id == crew.lead_bot_id, Activation.room_id == crew.room_id,
            Activation.status.in_(LIVE_ACTIVATIONS))))
        count, tasks = await open_tasks(session, crew.id) if not busy else (0, [])
        if not count:
            return now + step
        finished = await session.scalar(select(func.max(Activation.finished_at)).where(
            Activation.bot_id == crew.lead_bot_id, Activation.room_id == crew.room_id))
        idle_since = max(t for t in (crew.created_at, crew.lead_active_at, finished)
                         if t is not None)
        if now - idle_since < step:
            return idle_since + step
        nudge = await last_nudge(session, crew)
        if nudge is None or await lead_acted_since(session, crew, nudge.created_at):
            crew.unanswered_nudges = 0
        if crew.unanswered_nudges >= MAX_UNANSWERED:
            assert nudge is not None
            await self._back_off(session, crew, nudge.created_at, count, due_at, now)
            return now + step
        crew.unanswered_nudges += 1
        session.add(Activation(
            bot_id=crew.lead_bot_id, house_id=crew.house_id, room_id=crew.room_id,
            trigger_message_id=None, trigger_kind=TRIGGER_KIND, status="pending",
            crew_id=crew.id, crew_role=LEAD, available_at=utcnow(), created_at=now,
            payload={"prompt": nudge_prompt(crew, now - idle_since, count, tasks),
                     "crew_id": crew.id, "nudge": crew.unanswered_nudges}))
        _record(session, crew, "nudge", f"Nudge {crew.unanswered_nudges} of "
                f"{MAX_UNANSWERED}: {count} task(s) open", now, data={"open_tasks": count})
        return now + step

    async def _back_off(self, session: AsyncSession, crew: Crew, nudged_at: datetime,
                        open_count: int, due_at: datetime, now: datetime) -> None:
        """Record the backoff and queue the room's notice, the first time only."""
        told = await session.scalar(select(exists().where(
            CrewActivity.crew_id == crew.id, CrewActivity.kind == "heartbeat_backoff",
            CrewActivity.at >= nudged_at)))
        if told:
            return
        handle = await session.scalar(select(HouseMember.handle).where(
            HouseMember.user_id == crew.lead_bot_id, HouseMember.house_id == crew.house_id))
        _record(session, crew, "heartbeat_backoff",
                f"Heartbeat backed off after {MAX_UNANSWERED} unanswered nudges", now,
                data={"open_tasks": open_count})
        self._notices[(crew.id, due_at)] = (crew.room_id, backoff_notice(handle, open_count))

    async def fire(self, fired: list[Fired]) -> None:
        """Wake this process's worker for the queued nudges (other processes poll), and tell
        rooms of a heartbeat that backed off."""
        self.wake_worker()
        notices = [n for f in fired if (n := self._notices.pop((f.target_id, f.due_at), None))]
        await asyncio.gather(*(self._tell(room_id, text) for room_id, text in notices))

    async def _tell(self, room_id: str, text: str) -> None:
        try:
            await self.chat.post_system(room_id, text, sender_name=SENDER_NAME,
                                        metadata={"crew_heartbeat": "backoff"})
        except ShoalError as exc:
            log.warning("could not tell room %s the lead's heartbeat backed off: %s", room_id,
                        exc.message)
