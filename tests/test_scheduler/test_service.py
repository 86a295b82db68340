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


class FailsFor(Recorder):
    """A kind whose advance raises whenever the batch holds one of the `failing` targets,
    after it has already changed the other rows (which must not stay changed)."""

    def __init__(self, every: float, failing: set[str]) -> None:
        super().__init__(every)
        self.failing = failing

    async def advance(self, session: AsyncSession, rows: list[Schedule], now: datetime) -> None:
        await super().advance(session, rows, now)
        if any(row.target_id in self.failing for row in rows):
            raise RuntimeError("this row cannot advance")


async def test_a_row_that_fails_to_advance_holds_up_only_itself(shoal: Shoal, clock: Clock
                                                                ) -> None:
    flaky_kind, other_kind = unique("k")[:16], unique("k")[:16]
    bad, good = unique("t"), [unique("t") for _ in range(3)]
    flaky, other = FailsFor(every=2 * 3600, failing={bad}), Recorder(every=2 * 3600)
    scheduler = scheduler_with(shoal, clock, flaky, flaky_kind)
    scheduler.handle(other_kind, advance=other.advance, fire=other.fire)
    async with shoal.db.write() as session:
        for target in [good[0], bad, *good[1:]]:
            await set_due(session, flaky_kind, target, clock.now)
        await set_due(session, other_kind, "elsewhere", clock.now)

    assert await scheduler.run_due() == 4
    assert sorted(f.target_id for f in flaky.fired) == sorted(good)
    assert [f.target_id for f in other.fired] == ["elsewhere"]
    # The failing row is not retried at once (the loop would spin on it): it waits.
    assert await scheduler.run_due() == 0
    clock.advance(seconds=30)
    assert await scheduler.run_due() == 0
    # Tried again later, alone this time, it fails again and waits again.
    clock.advance(hours=1)
    assert await scheduler.run_due() == 0
    assert await scheduler.run_due() == 0

    flaky.failing.clear()  # whatever broke it is mended
    clock.advance(hours=1)
    assert await scheduler.run_due() == 1 + 3 + 1  # it, and the others' next due times
    assert [f.target_id for f in flaky.fired].count(bad) == 1


async def test_the_loop_sleeps_until_its_own_kinds_are_due(shoal: Shoal, clock: Clock) -> None:
    mine, foreign = unique("k")[:16], unique("k")[:16]
    scheduler = scheduler_with(shoal, clock, Recorder(every=None), mine)
    async with shoal.db.write() as session:
        # Due work of a kind another process handles (a split role, say) is not this one's.
        await set_due(session, foreign, unique("t"), clock.now - timedelta(minutes=5))
        await set_due(session, mine, unique("t"), clock.now + timedelta(seconds=10))
    assert await scheduler.seconds_until_due() == 10
