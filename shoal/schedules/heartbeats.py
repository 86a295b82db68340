"""Heartbeats: every interval the system posts a prompt into the room that @mentions the
agent (`metadata.heartbeat: true`), which wakes it like any mention."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.errors import Conflict, InvalidInput, NotFound, ShoalError
from shoal.llm.conventions import NO_REPLY
from shoal.logs import log_context
from shoal.scheduler.service import Fired, due_times, remove_due, set_due
from shoal.scheduler.tables import Heartbeat, Schedule
from shoal.scheduler.timing import format_interval, next_interval_time
from shoal.store.tables import HouseMember, iso

if TYPE_CHECKING:
    from shoal.rooms.chat import Chat
    from shoal.store import Database

log = logging.getLogger("shoal.scheduler")

KIND = "heartbeat"
SENDER_NAME = "Heartbeat"
DEFAULT_PROMPT = ("Heartbeat: check in on this room and report anything that needs attention. "
                  f"If there is nothing to report, reply with exactly {NO_REPLY}.")
MAX_PROMPT_CHARS = 2000


def check_heartbeat_prompt(prompt: str) -> str:
    """A prompt someone gave a heartbeat: some text, not too long."""
    text = prompt.strip()
    if not text:
        raise InvalidInput("the prompt is blank; give the text the agent is sent, or leave the "
                           "prompt out for the default check-in")
    if len(text) > MAX_PROMPT_CHARS:
        raise InvalidInput(f"the prompt is longer than {MAX_PROMPT_CHARS} characters")
    return text


async def set_heartbeat(session: AsyncSession, *, house_id: str, room_id: str, bot_id: str,
                        interval_seconds: int, created_by: str, now: datetime) -> Heartbeat:
    """Create the agent's heartbeat in the room, or change its interval and turn it on; the
    next beat is one interval from now."""
    beat = await session.scalar(select(Heartbeat).where(Heartbeat.room_id == room_id,
                                                        Heartbeat.bot_id == bot_id))
    if beat is None:
        beat = Heartbeat(house_id=house_id, room_id=room_id, bot_id=bot_id,
                         prompt=DEFAULT_PROMPT, created_by=created_by, created_at=now)
        session.add(beat)
    beat.interval_seconds = interval_seconds
    beat.enabled = True
    beat.updated_at = now
    await session.flush()
    await set_due(session, KIND, beat.id, now + timedelta(seconds=interval_seconds))
    return beat


async def find_heartbeat(session: AsyncSession, room_id: str, bot_id: str) -> Heartbeat:
    """The agent's heartbeat in the room, or NotFound."""
    beat = await session.scalar(select(Heartbeat).where(Heartbeat.room_id == room_id,
                                                        Heartbeat.bot_id == bot_id))
    if beat is None:
        raise NotFound("this agent has no heartbeat in this room")
    return beat


async def set_enabled(session: AsyncSession, beat: Heartbeat, enabled: bool,
                      now: datetime) -> None:
    """Pause or resume; a resumed heartbeat beats one interval from now."""
    if beat.enabled == enabled:
        raise Conflict(f"the heartbeat is already {'on' if enabled else 'off'}")
    beat.enabled = enabled
    beat.updated_at = now
    due = now + timedelta(seconds=beat.interval_seconds) if enabled else None
    await set_due(session, KIND, beat.id, due)


async def delete_heartbeat(session: AsyncSession, beat: Heartbeat) -> None:
    """Remove the heartbeat and its schedule."""
    await remove_due(session, KIND, beat.id)
    await session.delete(beat)


async def heartbeat_views(session: AsyncSession, beats: list[Heartbeat]) -> list[dict[str, Any]]:
    """Heartbeats as the API shows them, with the agent's handle and the next beat."""
    due = await due_times(session, KIND, [b.id for b in beats])
    handles = dict((await session.execute(
        select(HouseMember.user_id, HouseMember.handle).where(
            HouseMember.user_id.in_({b.bot_id for b in beats}),
            HouseMember.house_id.in_({b.house_id for b in beats}))
    )).tuples().all()) if beats else {}
    return [{
        "id": b.id, "houseId": b.house_id, "agencyId": b.room_id, "agentId": b.bot_id,
        "agent_handle": handles.get(b.bot_id), "interval": format_interval(b.interval_seconds),
        "interval_seconds": b.interval_seconds, "prompt": b.prompt, "enabled": b.enabled,
        "next_run_at": iso(due.get(b.id)), "last_run_at": iso(b.last_fired_at),
        "created_at": iso(b.created_at), "updated_at": iso(b.updated_at),
    } for b in beats]


class HeartbeatKind:
    """The scheduler's `heartbeat` kind: advance on the interval's rhythm, then post."""

    def __init__(self, db: Database, chat: Chat) -> None:
        self.db = db
        self.chat = chat

    async def advance(self, session: AsyncSession, rows: list[Schedule], now: datetime) -> None:
        """Move each claimed beat to its next time and note when it fired."""
        beats = {b.id: b for b in await session.scalars(
            select(Heartbeat).where(Heartbeat.id.in_([r.target_id for r in rows])))}
        for row in rows:
            beat = beats.get(row.target_id)
            if beat is None:
                await session.delete(row)
                continue
            assert row.due_at is not None
            row.due_at = (next_interval_time(row.due_at, beat.interval_seconds, now)
                          if beat.enabled else None)
        if beats:
            await session.execute(update(Heartbeat).where(Heartbeat.id.in_(list(beats)))
                                  .values(last_fired_at=now))

    async def fire(self, fired: list[Fired]) -> None:
        """Post each beat's prompt, mentioning its agent; the mention wakes the agent."""
        async with self.db.read() as session:
            rows = (await session.execute(
                select(Heartbeat, HouseMember.handle)
                .join(HouseMember, and_(HouseMember.user_id == Heartbeat.bot_id,
                                        HouseMember.house_id == Heartbeat.house_id))
                .where(Heartbeat.id.in_([f.target_id for f in fired]), Heartbeat.enabled)
            )).tuples().all()
        await asyncio.gather(*(self._post(beat, handle) for beat, handle in rows))

    async def _post(self, beat: Heartbeat, handle: str) -> None:
        with log_context(schedule_id=beat.id):
            await self._post_logged(beat, handle)

    async def _post_logged(self, beat: Heartbeat, handle: str) -> None:
        try:
            await self.chat.post_system(
                beat.room_id, f"@{handle} {beat.prompt}", sender_name=SENDER_NAME,
                metadata={"heartbeat": True, "heartbeat_id": beat.id,
                          "heartbeat_bot_id": beat.bot_id})
        except ShoalError as exc:
            log.warning("heartbeat %s could not post: %s", beat.id, exc.message)
