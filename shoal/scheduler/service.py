"""The scheduler: one table of due work, claimed atomically and advanced in the same
transaction, so each due time fires once however many schedulers share the database."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import redis.asyncio as aioredis
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from shoal import metrics
from shoal.ids import new_id
from shoal.scheduler.tables import Schedule
from shoal.store.tables import utcnow

if TYPE_CHECKING:
    from shoal.config import Settings
    from shoal.store.db import Database

log = logging.getLogger("shoal.scheduler")

CLAIM_BATCH = 500
# Longest sleep without a wake-up: bounds how long a change made by a process that could not
# reach this one (no Redis) goes unseen, at the cost of one indexed query.
MAX_SLEEP_SECONDS = 30.0
# Shortest pause between claims while due times come thick and fast: many beats a second
# share one claiming transaction at the cost of at most this much lateness.
MIN_CLAIM_GAP_SECONDS = 0.02
# A row its kind fails to advance is put back rather than retried on the next pass, so it
# neither holds up other due work nor fills the log every second. It waits as long as it has
# gone without firing (since it last fired, or was created), within these bounds: the wait
# doubles with each failure, and no extra column is needed to count them.
MIN_RETRY_WAIT = timedelta(minutes=1)
MAX_RETRY_WAIT = timedelta(hours=1)


@dataclass(frozen=True)
class Fired:
    """One due time claimed by this scheduler: what is due and when it was due."""

    kind: str
    target_id: str
    due_at: datetime
    schedule_id: str


Advance = Callable[[AsyncSession, list[Schedule], datetime], Awaitable[None]]
Fire = Callable[[list[Fired]], Awaitable[None]]


@dataclass(frozen=True)
class Kind:
    """How one kind of due work moves on (inside the claim) and what it does (after it)."""

    advance: Advance
    fire: Fire


async def set_due(session: AsyncSession, kind: str, target_id: str,
                  due_at: datetime | None) -> None:
    """Schedule (or reschedule, or with None pause) one target, in the caller's transaction."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(Schedule).values(
        id=new_id(), kind=kind, target_id=target_id, due_at=due_at, created_at=utcnow())
    await session.execute(statement.on_conflict_do_update(
        index_elements=[Schedule.kind, Schedule.target_id], set_={"due_at": due_at}))


async def remove_due(session: AsyncSession, kind: str, target_id: str) -> None:
    """Forget a target's schedule, in the caller's transaction."""
    await session.execute(delete(Schedule).where(Schedule.kind == kind,
                                                 Schedule.target_id == target_id))


async def due_times(session: AsyncSession, kind: str, target_ids: list[str]
                    ) -> dict[str, datetime | None]:
    """When each target is next due (None: paused), for showing schedules."""
    if not target_ids:
        return {}
    rows = await session.execute(select(Schedule.target_id, Schedule.due_at).where(
        Schedule.kind == kind, Schedule.target_id.in_(target_ids)))
    return dict(rows.tuples().all())


class Scheduler:
    """Sleeps until the earliest due row, claims what is due, advances it, then fires it.
    Kinds register how they advance and fire; schedule changes call `wake()`."""

    def __init__(self, db: Database, settings: Settings,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.clock = clock
        self.kinds: dict[str, Kind] = {}
        self._channel = f"{settings.redis_prefix}:schedules"
        self._redis = aioredis.from_url(settings.redis_url) if settings.redis_url else None
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._firing: set[asyncio.Task[None]] = set()

    def handle(self, kind: str, *, advance: Advance, fire: Fire) -> None:
        """Register a kind of due work."""
        self.kinds[kind] = Kind(advance, fire)

    def wake(self) -> None:
        """Schedules changed: look again at the earliest due time, here and in every other
        process (through Redis when there is one)."""
        self._wake.set()
        if self._redis is not None:
            task = asyncio.get_running_loop().create_task(self._publish_wake())
            self._firing.add(task)
            task.add_done_callback(self._firing.discard)

    async def _publish_wake(self) -> None:
        try:
            assert self._redis is not None
            await self._redis.publish(self._channel, b"wake")
        except Exception:  # the periodic look will find the change anyway
            log.warning("could not tell other schedulers to wake", exc_info=True)

    async def start(self) -> None:
        """Run the loop in the background (and listen for other processes' wake-ups)."""
        self._tasks.append(asyncio.create_task(self._run(), name="shoal-scheduler"))
        if self._redis is not None:
            pubsub = self._redis.pubsub()
            await pubsub.subscribe(self._channel)
            self._tasks.append(asyncio.create_task(self._listen(pubsub),
                                                   name="shoal-scheduler-wakes"))

    async def stop(self) -> None:
        """Stop claiming; what is firing is let finish briefly, then cancelled."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._firing:
            await asyncio.wait(set(self._firing), timeout=5)
            for task in self._firing:
                task.cancel()
        if self._redis is not None:
            await self._redis.aclose()

    async def _listen(self, pubsub: aioredis.client.PubSub) -> None:
        try:
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    self._wake.set()
        finally:
            await pubsub.aclose()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.run_due(wait=False)
                sleep = await self.seconds_until_due()
            except Exception:
                log.exception("scheduler pass failed")
                sleep = 1.0
            try:
                await asyncio.wait_for(self._wake.wait(), sleep)
            except TimeoutError:
                pass

    async def seconds_until_due(self) -> float:
        """How long the loop sleeps: until the earliest due time of the kinds this process
        handles (others' rows are not its business), within bounds."""
        async with self.db.read() as session:
            earliest = await session.scalar(
                select(func.min(Schedule.due_at)).where(Schedule.due_at.is_not(None),
                                                        Schedule.kind.in_(list(self.kinds))))
        if earliest is None:
            return MAX_SLEEP_SECONDS
        return min(max((earliest - self.clock()).total_seconds(), MIN_CLAIM_GAP_SECONDS),
                   MAX_SLEEP_SECONDS)

    async def run_due(self, *, wait: bool = True) -> int:
        """Claim and fire everything due at the clock's time; returns how many fired. Firing
        runs concurrently with the next claim; with `wait` it is done when this returns (the
        loop does not wait, so slow firing never delays the next due time)."""
        count = 0
        pending: list[asyncio.Task[None]] = []
        while True:
            now = self.clock()
            fired, batch_full = await self._claim(now)
            for item in fired:
                metrics.scheduler_lateness.labels(item.kind).observe(
                    max(0.0, (now - item.due_at).total_seconds()))
            for kind, items in _by_kind(fired).items():
                task = asyncio.create_task(self._fire(kind, items))
                self._firing.add(task)
                task.add_done_callback(self._firing.discard)
                pending.append(task)
            count += len(fired)
            if not batch_full:
                break
        if pending and wait:
            await asyncio.gather(*pending)
        return count

    async def _claim(self, now: datetime) -> tuple[list[Fired], bool]:
        """Advance what is due in one transaction; returns what fired, and whether the batch
        was full (so more may be due)."""
        async with self.db.write() as session:
            query = (select(Schedule)
                     .where(Schedule.due_at <= now, Schedule.kind.in_(list(self.kinds)))
                     .order_by(Schedule.due_at).limit(CLAIM_BATCH))
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = list((await session.scalars(query)).all())
            claimed = []  # read before advancing: a failed advance leaves its rows expired
            for row in rows:
                assert row.due_at is not None
                claimed.append(Fired(row.kind, row.target_id, row.due_at, row.id))
            advanced: set[str] = set()
            for kind, group in _rows_by_kind(rows).items():
                advanced |= await self._advance(session, kind, group, now)
        fired = [item for item in claimed if item.schedule_id in advanced]
        return fired, len(claimed) == CLAIM_BATCH

    async def _advance(self, session: AsyncSession, kind: str, rows: list[Schedule],
                       now: datetime) -> set[str]:
        """Advance one kind's claimed rows; returns the ids that advanced. If the kind fails,
        its rows are tried one at a time, so a failing row holds up only itself: it is put
        back to be tried again later."""
        unfired_since = {row.id: row.last_fired_at or row.created_at for row in rows}
        try:
            await self._advance_in_savepoint(session, kind, rows, now)
            return set(unfired_since)
        except Exception:
            log.warning("advancing %d %s schedules failed; trying them one at a time",
                        len(rows), kind, exc_info=True)
        advanced: set[str] = set()
        fresh = await session.scalars(select(Schedule).where(Schedule.id.in_(unfired_since))
                                      .execution_options(populate_existing=True))
        for row in list(fresh):
            row_id = row.id
            try:
                await self._advance_in_savepoint(session, kind, [row], now)
                advanced.add(row_id)
            except Exception:
                await self._put_back(session, kind, row_id, unfired_since[row_id], now)
        return advanced

    async def _advance_in_savepoint(self, session: AsyncSession, kind: str,
                                    rows: list[Schedule], now: datetime) -> None:
        """All or nothing: if the kind raises, none of its changes to these rows stay."""
        async with session.begin_nested():
            for row in rows:
                row.last_fired_at = now
            await self.kinds[kind].advance(session, rows, now)

    async def _put_back(self, session: AsyncSession, kind: str, row_id: str,
                        unfired_since: datetime, now: datetime) -> None:
        """Log why a row could not advance, and make it due again after a wait as long as
        it has gone without firing (within bounds). Called while handling the error."""
        wait = min(max(now - unfired_since, MIN_RETRY_WAIT), MAX_RETRY_WAIT)
        log.exception("advancing %s schedule %s failed; trying it again at %s", kind, row_id,
                      now + wait)
        await session.execute(update(Schedule).where(Schedule.id == row_id)
                              .values(due_at=now + wait)
                              .execution_options(synchronize_session=False))

    async def _fire(self, kind: str, fired: list[Fired]) -> None:
        try:
            await self.kinds[kind].fire(fired)
        except Exception:
            metrics.scheduler_fired.labels(kind, "error").inc(len(fired))
            log.exception("firing %d %s schedule(s) failed (schedule ids %s)", len(fired), kind,
                          ", ".join(item.schedule_id for item in fired))
        else:
            metrics.scheduler_fired.labels(kind, "ok").inc(len(fired))


def _by_kind(fired: list[Fired]) -> dict[str, list[Fired]]:
    groups: dict[str, list[Fired]] = {}
    for item in fired:
        groups.setdefault(item.kind, []).append(item)
    return groups


def _rows_by_kind(rows: list[Schedule]) -> dict[str, list[Schedule]]:
    groups: dict[str, list[Schedule]] = {}
    for row in rows:
        groups.setdefault(row.kind, []).append(row)
    return groups
