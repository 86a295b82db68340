"""The scheduler's contract: due rows fire once, advance in the claim, and wait otherwise."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from shoal.core import Shoal
from shoal.scheduler.service import Fired, Scheduler, due_times, remove_due, set_due
from shoal.scheduler.tables import Schedule
from tests.support import Clock, unique


class Recorder:
    """A kind of due work that repeats every `every` seconds and records what fired."""

    def __init__(self, every: float | None) -> None:
        self.every = every
        self.fired: list[Fired] = []

    async def advance(self, session: AsyncSession, rows: list[Schedule], now: datetime) -> None:
        for row in rows:
            row.due_at = None if self.every is None else now + timedelta(seconds=self.every)

    async def fire(self, fired: list[Fired]) -> None:
        self.fired.extend(fired)


def scheduler_with(shoal: Shoal, clock: Clock, recorder: Recorder, kind: str) -> Scheduler:
    scheduler = Scheduler(shoal.db, shoal.settings, clock=clock)
    scheduler.handle(kind, advance=recorder.advance, fire=recorder.fire)
    return scheduler


async def test_a_row_fires_when_due_and_not_before(shoal: Shoal, clock: Clock) -> None:
    kind, target = unique("k")[:16], unique("t")
    recorder = Recorder(every=None)
    scheduler = scheduler_with(shoal, clock, recorder, kind)
    async with shoal.db.write() as session:
        await set_due(session, kind, target, clock.now)
    assert await scheduler.run_due() == 1
    assert [(f.kind, f.target_id) for f in recorder.fired] == [(kind, target)]
    assert await scheduler.run_due() == 0  # advanced to None: paused, not due again
    async with shoal.db.read() as session:
        assert await due_times(session, kind, [target]) == {target: None}


async def test_future_rows_wait_and_repeat_on_their_own_interval(shoal: Shoal, clock: Clock
                                                                 ) -> None:
    kind, target = unique("k")[:16], unique("t")
    recorder = Recorder(every=60)
    scheduler = scheduler_with(shoal, clock, recorder, kind)
    start = clock.now
    async with shoal.db.write() as session:
        await set_due(session, kind, target, clock.advance(seconds=30))
    clock.now = start
    assert await scheduler.run_due() == 0
    clock.advance(seconds=30)
    assert await scheduler.run_due() == 1
    clock.advance(seconds=59)
    assert await scheduler.run_due() == 0
    clock.advance(seconds=1)
    assert await scheduler.run_due() == 1
    assert len(recorder.fired) == 2


async def test_set_due_reschedules_and_remove_forgets(shoal: Shoal, clock: Clock) -> None:
    kind, target = unique("k")[:16], unique("t")
    recorder = Recorder(every=None)
    scheduler = scheduler_with(shoal, clock, recorder, kind)
    async with shoal.db.write() as session:
        await set_due(session, kind, target, clock.now)
        await set_due(session, kind, target, None)  # paused before it fired
    assert await scheduler.run_due() == 0
    async with shoal.db.write() as session:
        await set_due(session, kind, target, clock.now)
        await remove_due(session, kind, target)
    assert await scheduler.run_due() == 0
    assert recorder.fired == []


async def test_concurrent_schedulers_fire_each_due_row_once(shoal: Shoal, clock: Clock) -> None:
    kind = unique("k")[:16]
    recorders = [Recorder(every=3600) for _ in range(3)]
    schedulers = [scheduler_with(shoal, clock, r, kind) for r in recorders]
    targets = [unique("t") for _ in range(1200)]  # more than one claim batch
    async with shoal.db.write() as session:
        for target in targets:
            await set_due(session, kind, target, clock.now)
    await asyncio.gather(*(s.run_due() for s in schedulers))
    fired = [f.target_id for r in recorders for f in r.fired]
    assert sorted(fired) == sorted(targets)
