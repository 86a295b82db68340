"""Cron jobs: an agent turn on a cron expression, every interval, or once at a time. The turn
is an isolated session (the prompt alone unless the job asks for the room's history); its
answer goes to the room, or nowhere for a silent job."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.agents.config import load_config
from shoal.dispatch.planner import CRON_RUN_FOR
from shoal.errors import InvalidInput, NotFound, ShoalError
from shoal.logs import log_context
from shoal.runtime.base import Outcome
from shoal.scheduler.service import Fired, due_times, remove_due, set_due
from shoal.scheduler.tables import CronJob, Schedule
from shoal.scheduler.timing import (
    check_cron,
    format_interval,
    next_cron_time,
    next_interval_time,
    parse_at,
    parse_interval,
    zone,
)
from shoal.store.tables import Activation, HouseMember, User, iso, utcnow

if TYPE_CHECKING:
    from shoal.rooms.chat import Chat
    from shoal.scheduler.service import Scheduler
    from shoal.store import Database

log = logging.getLogger("shoal.scheduler")

KIND = "cron"
MAX_ERRORS = 3  # consecutive failed runs that disable a job
RETRY_ONE_SHOT = timedelta(minutes=1)
MAX_PROMPT_CHARS = 4000
MIN_EVERY = 60
MAX_EVERY = 366 * 86400


@dataclass(frozen=True)
class When:
    """A job's schedule as written: exactly one of a cron expression, an interval, a time."""

    expression: str | None = None
    every: str | None = None
    at: str | None = None
    timezone: str = "UTC"


def plan_job(job: CronJob, when: When, now: datetime) -> datetime:
    """Fill the job's schedule fields from what was written; returns its first due time."""
    given = [v for v in (when.expression, when.every, when.at) if v]
    if len(given) != 1:
        raise InvalidInput("give exactly one schedule: a cron expression, --every <interval> "
                           "or --at <time>")
    job.timezone = zone(when.timezone).key
    job.expression, job.every_seconds, job.run_at = None, None, None
    if when.expression:
        job.kind, job.expression = "cron", check_cron(when.expression)
        return next_cron_time(job.expression, job.timezone, now)
    if when.every:
        job.kind = "every"
        job.every_seconds = parse_interval(when.every, minimum=MIN_EVERY, maximum=MAX_EVERY)
        return now + timedelta(seconds=job.every_seconds)
    assert when.at
    job.kind, job.run_at = "at", parse_at(when.at, job.timezone, now)
    return job.run_at


def check_prompt(prompt: object) -> str:
    """The job's prompt: some text, not too long."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidInput("give the prompt the agent runs, e.g. Write the morning digest")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidInput(f"the prompt is longer than {MAX_PROMPT_CHARS} characters")
    return prompt.strip()


async def create_job(session: AsyncSession, *, house_id: str, room_id: str, bot_id: str,
                     when: When, prompt: str, deliver: bool, with_history: bool,
                     created_by: str, now: datetime) -> CronJob:
    """Store a job and schedule its first run."""
    job = CronJob(house_id=house_id, room_id=room_id, bot_id=bot_id, prompt=check_prompt(prompt),
                  deliver=deliver, with_history=with_history, created_by=created_by,
                  created_at=now)
    due = plan_job(job, when, now)
    session.add(job)
    await session.flush()
    await set_due(session, KIND, job.id, due)
    return job


async def set_job_enabled(session: AsyncSession, job: CronJob, enabled: bool,
                          now: datetime) -> None:
    """Turn a job off, or back on (which clears its error count and plans its next run)."""
    job.enabled = enabled
    if not enabled:
        await set_due(session, KIND, job.id, None)
        return
    job.consecutive_errors = 0
    due = _next_due(job, now, now)
    if due is None:
        raise InvalidInput("this one-shot job has already run; add a new one")
    await set_due(session, KIND, job.id, due)


async def delete_job(session: AsyncSession, job: CronJob) -> None:
    """Remove a job and its schedule."""
    await remove_due(session, KIND, job.id)
    await session.delete(job)


async def find_job(session: AsyncSession, house_id: str, job_ref: str) -> CronJob:
    """A job of the house by its id or the short id lists show (its last 8 characters)."""
    ref = job_ref.strip().lower()
    if len(ref) < 6:
        raise NotFound(f"no cron job {job_ref!r} in this house")
    jobs = list(await session.scalars(select(CronJob).where(CronJob.house_id == house_id)))
    found = [j for j in jobs if j.id == ref or j.id.endswith(ref)]
    if len(found) != 1:
        raise NotFound(f"no cron job {job_ref!r} in this house")
    return found[0]


def short_id(job: CronJob) -> str:
    """What lists and answers call a job."""
    return job.id[-8:]


def describe_schedule(job: CronJob, when: Callable[[datetime], str | None] = iso) -> str:
    """The schedule in words: `cron "0 9 * * 1-5" (Europe/Berlin)`, `every 30m`, `once at
    ...` (the time as `when` writes it: ISO unless told)."""
    if job.kind == "cron":
        return f'cron "{job.expression}" ({job.timezone})'
    if job.kind == "every":
        return f"every {format_interval(job.every_seconds or 0)}"
    return f"once at {when(job.run_at) if job.run_at else None}"


async def job_views(session: AsyncSession, jobs: list[CronJob]) -> list[dict[str, Any]]:
    """Jobs as the API shows them, with the agent's handle and the next run."""
    due = await due_times(session, KIND, [j.id for j in jobs])
    handles = dict((await session.execute(
        select(HouseMember.user_id, HouseMember.handle).where(
            HouseMember.user_id.in_({j.bot_id for j in jobs}),
            HouseMember.house_id.in_({j.house_id for j in jobs}))
    )).tuples().all()) if jobs else {}
    return [{
        "id": j.id, "short_id": short_id(j), "houseId": j.house_id, "agencyId": j.room_id,
        "agentId": j.bot_id, "agent_handle": handles.get(j.bot_id), "kind": j.kind,
        "schedule": describe_schedule(j), "expression": j.expression, "timezone": j.timezone,
        "every_seconds": j.every_seconds, "at": iso(j.run_at), "prompt": j.prompt,
        "deliver": j.deliver, "history": j.with_history, "enabled": j.enabled,
        "consecutive_errors": j.consecutive_errors, "next_run_at": iso(due.get(j.id)),
        "last_run_at": iso(j.last_run_at), "last_outcome": j.last_outcome,
        "last_error": j.last_error, "created_at": iso(j.created_at),
    } for j in jobs]


def _next_due(job: CronJob, due_at: datetime, now: datetime) -> datetime | None:
    if job.kind == "cron":
        assert job.expression is not None
        return next_cron_time(job.expression, job.timezone, now)
    if job.kind == "every":
        return next_interval_time(due_at, job.every_seconds or MIN_EVERY, now)
    return job.run_at if job.run_at and job.run_at > now else None


def cron_activation(job: CronJob) -> Activation:
    """The agent turn a job starts: no trigger message, the prompt in the payload. It is
    runnable at once by the workers' clock, whatever clock drives the scheduler."""
    now = utcnow()
    return Activation(
        bot_id=job.bot_id, house_id=job.house_id, room_id=job.room_id,
        trigger_message_id=None, trigger_kind="cron", status="pending", available_at=now,
        created_at=now, payload={"prompt": job.prompt, "cron_job_id": job.id,
                                 "isolated": not job.with_history, "deliver": job.deliver})


class CronKind:
    """The scheduler's `cron` kind. The turn is queued inside the claim, so a due run is
    recorded exactly once with the schedule's advance, and the worker picks it up."""

    def __init__(self, db: Database, chat: Chat, scheduler: Scheduler,
                 wake_worker: Callable[[], None]) -> None:
        self.db = db
        self.chat = chat
        self.scheduler = scheduler  # its clock (which tests move) and its wake-up
        self.wake_worker = wake_worker

    async def advance(self, session: AsyncSession, rows: list[Schedule], now: datetime) -> None:
        """Queue each due job's turn and move it to its next time (a one-shot to none)."""
        found = (await session.execute(
            select(CronJob, User.config).join(User, User.id == CronJob.bot_id)
            .where(CronJob.id.in_([r.target_id for r in rows])))).tuples().all()
        jobs = {job.id: (job, load_config(config or {}).runtime) for job, config in found}
        for row in rows:
            if row.target_id not in jobs:
                await session.delete(row)
                continue
            job, runtime = jobs[row.target_id]
            if not job.enabled:
                row.due_at = None
                continue
            assert row.due_at is not None
            job.last_run_at = now
            if runtime != "sdk":  # an SDK agent hears messages only: fire() posts one
                session.add(cron_activation(job))
            row.due_at = None if job.kind == "at" else _next_due(job, row.due_at, now)

    async def fire(self, fired: list[Fired]) -> None:
        """Wake this process's worker for the queued turns (other processes poll), and
        prompt SDK agents, which only hear messages, with one that mentions them."""
        self.wake_worker()
        async with self.db.read() as session:
            prompts = await _jobs_of_sdk_agents(session, [f.target_id for f in fired])
        for job, handle in prompts:
            if not job.enabled:  # turned off since the claim
                continue
            with log_context(schedule_id=job.id):
                try:
                    await self._prompt_sdk_agent(job, handle)
                except ShoalError as exc:
                    log.warning("cron job %s could not post: %s", job.id, exc.message)
                    await self._record_run(job.id, job.bot_id, job.room_id, Outcome(
                        "error", error=f"the prompt could not be posted: {exc.message}"))

    async def _prompt_sdk_agent(self, job: CronJob, handle: str | None) -> None:
        """Post the prompt that mentions the job's agent. The metadata names the job and the
        agent, so the activation the mention creates counts as the job's run."""
        if handle is None:
            raise InvalidInput("the job's agent is no longer a member of this house")
        await self.chat.post_system(
            job.room_id, f"@{handle} {job.prompt}", sender_name="Cron",
            metadata={"cron": {"id": job.id, CRON_RUN_FOR: job.bot_id}})

    async def run_now(self, job: CronJob) -> None:
        """Run the job's turn at once, outside its schedule, as the schedule would: queued
        for the worker, or for an SDK agent a message that mentions it."""
        async with self.db.read() as session:
            sdk = await _jobs_of_sdk_agents(session, [job.id])
        for sdk_job, handle in sdk:
            await self._prompt_sdk_agent(sdk_job, handle)
        now = self.scheduler.clock()
        async with self.db.write() as session:
            if not sdk:
                session.add(cron_activation(job))
            stored = await session.get(CronJob, job.id)
            if stored is not None:
                stored.last_run_at = now
        self.wake_worker()

    async def finished(self, activation: Activation, outcome: Outcome) -> None:
        """Record how a job's turn went, whether the job queued it or it was the mention of
        an SDK agent that the job posted."""
        job_id = (activation.payload or {}).get("cron_job_id")
        if activation.trigger_kind == "cron" and job_id:
            await self._record_run(job_id, activation.bot_id, activation.room_id, outcome)

    async def _record_run(self, job_id: str, bot_id: str, room_id: str, outcome: Outcome
                          ) -> None:
        """Record a run of the job by its agent in its room (any other is not its run): a
        one-shot that succeeded turns itself off (one that failed is retried); three errors
        in a row turn a job off and say so in its room."""
        now = self.scheduler.clock()
        notice = None
        async with self.db.write() as session:
            job = await session.get(CronJob, job_id)
            if job is None or (job.bot_id, job.room_id) != (bot_id, room_id):
                return
            job.last_outcome = outcome.outcome
            if outcome.outcome == "error":
                job.consecutive_errors += 1
                job.last_error = outcome.error
                if job.consecutive_errors >= MAX_ERRORS:
                    job.enabled = False
                    await set_due(session, KIND, job.id, None)
                    notice = await self._disabled_notice(session, job)
                elif job.kind == "at":
                    await set_due(session, KIND, job.id, now + RETRY_ONE_SHOT)
            else:
                job.consecutive_errors, job.last_error = 0, None
                if job.kind == "at":
                    job.enabled = False
                    await set_due(session, KIND, job.id, None)
        if notice is not None:
            try:
                await self.chat.post_system(job.room_id, notice, sender_name="Cron",
                                                  metadata={"cron": {"id": job.id},
                                                            "error": True})
            except ShoalError as exc:
                log.warning("could not say cron job %s was disabled: %s", job.id, exc.message)
        self.scheduler.wake()

    async def _disabled_notice(self, session: AsyncSession, job: CronJob) -> str:
        name = await session.scalar(select(User.display_name).where(User.id == job.bot_id))
        return (f"Cron job {short_id(job)} of {name} ({describe_schedule(job)}) is disabled "
                f"after {MAX_ERRORS} failed runs in a row; the last error: {job.last_error}. "
                f"Turn it back on with /cron enable {short_id(job)}.")


async def _jobs_of_sdk_agents(session: AsyncSession, job_ids: list[str]
                              ) -> list[tuple[CronJob, str | None]]:
    """Those of the jobs whose agent runs in its own process (the SDK runtime), with its
    @handle (None once it left the house): it hears messages only, so its turn is one."""
    rows = (await session.execute(
        select(CronJob, HouseMember.handle, User.config)
        .join(User, User.id == CronJob.bot_id)
        .outerjoin(HouseMember, and_(HouseMember.user_id == CronJob.bot_id,
                                     HouseMember.house_id == CronJob.house_id))
        .where(CronJob.id.in_(job_ids)))).tuples().all()
    return [(job, handle) for job, handle, config in rows
            if load_config(config or {}).runtime == "sdk"]


async def house_jobs(session: AsyncSession, house_id: str, room_id: str | None = None
                     ) -> list[CronJob]:
    """The house's jobs (or one room's), oldest first."""
    query = select(CronJob).where(CronJob.house_id == house_id)
    if room_id is not None:
        query = query.where(CronJob.room_id == room_id)
    return list(await session.scalars(query.order_by(CronJob.created_at)))
