"""Heartbeats and cron jobs over REST, for house admins and owners (the same rules and
answers as /heartbeat and /cron)."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.api.deps import PrincipalDep, ShoalDep
from shoal.api.openapi import checked, errors
from shoal.errors import InvalidInput, NotFound
from shoal.rooms.access import Action, authorize, authorize_house, room_access
from shoal.scheduler.tables import CronJob, Heartbeat
from shoal.scheduler.timing import INTERVAL, check_interval, parse_interval
from shoal.schedules.cron import (
    When,
    check_prompt,
    create_job,
    delete_job,
    house_jobs,
    job_views,
    set_job_enabled,
)
from shoal.schedules.heartbeats import (
    MAX_PROMPT_CHARS,
    check_heartbeat_prompt,
    delete_heartbeat,
    heartbeat_views,
    set_enabled,
    set_heartbeat,
)
from shoal.schedules.targets import schedulable_agent
from shoal.store.tables import Room

router = APIRouter(prefix="/api", tags=["schedules"])
Schedule = TypeVar("Schedule", Heartbeat, CronJob)


Interval = Annotated[str, Field(max_length=16, pattern=INTERVAL.pattern,
                                description="60s, 5m, 1h, 6h, 1d ... (60 s to 7 d)"),
                     checked(check_interval)]


class HeartbeatBody(BaseModel):
    agent: str = Field(max_length=100, description="@handle or agent id")
    interval: Interval
    prompt: str | None = Field(None, max_length=MAX_PROMPT_CHARS)


class HeartbeatUpdate(BaseModel):
    interval: Interval | None = None
    prompt: str | None = Field(None, min_length=1, max_length=MAX_PROMPT_CHARS)
    enabled: bool | None = None


class CronBody(BaseModel):
    agent: str = Field(max_length=100, description="@handle or agent id")
    cron: str | None = Field(None, max_length=120, description='e.g. "0 9 * * 1-5"')
    every: str | None = Field(None, max_length=16, description="e.g. 30m")
    at: str | None = Field(None, max_length=64, description="ISO time, HH:MM or a delay")
    tz: str = Field("UTC", max_length=64)
    prompt: str = Field(max_length=4000)
    deliver: bool = True
    history: bool = False


class CronUpdate(BaseModel):
    enabled: bool | None = None
    prompt: str | None = Field(None, max_length=4000)
    deliver: bool | None = None
    history: bool | None = None


async def _room_for_admin(session: AsyncSession, user_id: str, room_id: str) -> Room:
    access = await room_access(session, user_id, room_id)
    authorize(access, Action.READ)  # a room the caller cannot see does not exist for them
    authorize(access, Action.MANAGE_SCHEDULES)
    assert access.room is not None
    return access.room


async def _owned(session: AsyncSession, user_id: str, table: type[Schedule], row_id: str
                 ) -> Schedule:
    row = await session.get(table, row_id)
    if row is None:
        raise NotFound(f"{'heartbeat' if table is Heartbeat else 'cron job'} not found")
    await authorize_house(session, user_id, row.house_id, Action.MANAGE_SCHEDULES)
    return row


@router.get("/houses/{house_id}/heartbeats")
async def list_heartbeats(house_id: str, principal: PrincipalDep, shoal: ShoalDep
                          ) -> list[dict[str, Any]]:
    """The house's heartbeats with their next and last beats."""
    async with shoal.db.read() as session:
        await authorize_house(session, principal.id, house_id, Action.MANAGE_SCHEDULES)
        beats = list(await session.scalars(select(Heartbeat).where(
            Heartbeat.house_id == house_id).order_by(Heartbeat.created_at)))
        return await heartbeat_views(session, beats)


@router.post("/agencies/{agency_id}/heartbeats", status_code=201)
async def new_heartbeat(agency_id: str, body: HeartbeatBody, principal: PrincipalDep,
                        shoal: ShoalDep) -> dict[str, Any]:
    """Set an agent's heartbeat in the room (or change its interval and turn it on)."""
    seconds = parse_interval(body.interval)
    prompt = check_heartbeat_prompt(body.prompt) if body.prompt is not None else None
    now = shoal.scheduler.clock()
    async with shoal.db.write() as session:
        room = await _room_for_admin(session, principal.id, agency_id)
        agent = await schedulable_agent(session, room, body.agent)
        beat = await set_heartbeat(session, house_id=room.house_id, room_id=room.id,
                                   bot_id=agent.id, interval_seconds=seconds,
                                   created_by=principal.id, now=now)
        if prompt is not None:
            beat.prompt = prompt
        [view] = await heartbeat_views(session, [beat])
    shoal.scheduler.wake()
    return view


@router.patch("/heartbeats/{heartbeat_id}", responses=errors(409))
async def update_heartbeat(heartbeat_id: str, body: HeartbeatUpdate, principal: PrincipalDep,
                           shoal: ShoalDep) -> dict[str, Any]:
    """Change a heartbeat's interval or prompt, or turn it off or on."""
    now = shoal.scheduler.clock()
    prompt = check_heartbeat_prompt(body.prompt) if body.prompt is not None else None
    async with shoal.db.write() as session:
        beat: Heartbeat = await _owned(session, principal.id, Heartbeat, heartbeat_id)
        if body.interval is not None:
            await set_heartbeat(session, house_id=beat.house_id, room_id=beat.room_id,
                                bot_id=beat.bot_id, interval_seconds=parse_interval(body.interval),
                                created_by=principal.id, now=now)
        if prompt is not None:
            beat.prompt, beat.updated_at = prompt, now
        if body.enabled is not None and body.enabled != beat.enabled:
            await set_enabled(session, beat, body.enabled, now)
        [view] = await heartbeat_views(session, [beat])
    shoal.scheduler.wake()
    return view


@router.delete("/heartbeats/{heartbeat_id}")
async def remove_heartbeat(heartbeat_id: str, principal: PrincipalDep, shoal: ShoalDep
                           ) -> dict[str, Any]:
    """Delete a heartbeat."""
    async with shoal.db.write() as session:
        await delete_heartbeat(session, await _owned(session, principal.id, Heartbeat,
                                                     heartbeat_id))
    return {"ok": True}


@router.get("/houses/{house_id}/cron-jobs")
async def list_cron_jobs(house_id: str, principal: PrincipalDep, shoal: ShoalDep
                         ) -> list[dict[str, Any]]:
    """The house's cron jobs with their next and last runs."""
    async with shoal.db.read() as session:
        await authorize_house(session, principal.id, house_id, Action.MANAGE_SCHEDULES)
        return await job_views(session, await house_jobs(session, house_id))


@router.post("/agencies/{agency_id}/cron-jobs", status_code=201)
async def new_cron_job(agency_id: str, body: CronBody, principal: PrincipalDep,
                       shoal: ShoalDep) -> dict[str, Any]:
    """Add a cron job whose agent turns are delivered to this room (or kept, if silent)."""
    when = When(expression=body.cron, every=body.every, at=body.at, timezone=body.tz)
    async with shoal.db.write() as session:
        room = await _room_for_admin(session, principal.id, agency_id)
        agent = await schedulable_agent(session, room, body.agent)
        job = await create_job(session, house_id=room.house_id, room_id=room.id,
                               bot_id=agent.id, when=when, prompt=body.prompt,
                               deliver=body.deliver, with_history=body.history,
                               created_by=principal.id, now=shoal.scheduler.clock())
        [view] = await job_views(session, [job])
    shoal.scheduler.wake()
    return view


@router.patch("/cron-jobs/{job_id}")
async def update_cron_job(job_id: str, body: CronUpdate, principal: PrincipalDep,
                          shoal: ShoalDep) -> dict[str, Any]:
    """Turn a job off or on, or change its prompt or where its answers go."""
    async with shoal.db.write() as session:
        job: CronJob = await _owned(session, principal.id, CronJob, job_id)
        if body.prompt is not None:
            job.prompt = check_prompt(body.prompt)
        if body.deliver is not None:
            job.deliver = body.deliver
        if body.history is not None:
            job.with_history = body.history
        if body.enabled is not None and body.enabled != job.enabled:
            await set_job_enabled(session, job, body.enabled, shoal.scheduler.clock())
        [view] = await job_views(session, [job])
    shoal.scheduler.wake()
    return view


@router.delete("/cron-jobs/{job_id}")
async def remove_cron_job(job_id: str, principal: PrincipalDep, shoal: ShoalDep
                          ) -> dict[str, Any]:
    """Delete a cron job."""
    async with shoal.db.write() as session:
        await delete_job(session, await _owned(session, principal.id, CronJob, job_id))
    return {"ok": True}


@router.post("/cron-jobs/{job_id}/run", status_code=202, responses=errors(400))
async def run_cron_job(job_id: str, principal: PrincipalDep, shoal: ShoalDep
                       ) -> dict[str, Any]:
    """Run the job's agent turn now, outside its schedule."""
    async with shoal.db.read() as session:
        job: CronJob = await _owned(session, principal.id, CronJob, job_id)
    if not job.enabled:
        raise InvalidInput("this cron job is off; turn it on first")
    await shoal.cron.run_now(job)
    return {"ok": True, "queued": True}
