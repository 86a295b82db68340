"""The lead's heartbeat: an idle lead with tasks undone is nudged (an activation of kind
`crew`), not when all is done or while it works; halt_heartbeat stops it until resumed; it
backs off after three unanswered nudges and tells the room once; and each nudge is queued
once however many schedulers share the database."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from shoal.core import Shoal
from shoal.crew import heartbeat as lead_heartbeat
from shoal.crew import refresh
from shoal.crew.activity import CrewFeed
from shoal.crew.heartbeat import LeadHeartbeat
from shoal.crew.heartbeat_tools import HeartbeatTools
from shoal.crew.sync import schedule_crew
from shoal.crew.tables import Crew, CrewActivity, CrewMember
from shoal.llm.fakeserver import FakeLLMServer, Reply
from shoal.rooms.messages import history
from shoal.scheduler.service import Scheduler, remove_due
from shoal.scheduler.tables import Schedule
from shoal.store.tables import Activation, Room, User, utcnow
from shoal.tools.base import ToolError, ToolScope
from tests.support import Clock, ShoalServer, make_house
from tests.test_crew.support import (
    CrewRows,
    add_task,
    finish_work,
    make_crew,
    record,
    start_work,
)
from tests.test_runtime.conftest import Bench, bench, fake, fake_server
from tests.test_scheduler.conftest import BACKENDS, clock, migrated, shoal

__all__ = ["bench", "clock", "fake", "fake_server", "migrated", "shoal"]  # fixtures used

POSTGRES = [b for b in BACKENDS if b == "postgres"]
IDLE = 300


def alone(shoal: Shoal) -> CrewFeed:
    """A feed that tells no one else: the server's would tell its crew sync, which
    reschedules on the server's real clock while these tests move their own."""
    return CrewFeed(shoal.db, shoal.gateway)


def heartbeat(shoal: Shoal, clock: Clock) -> Scheduler:
    scheduler = Scheduler(shoal.db, shoal.settings, clock=clock)
    kind = LeadHeartbeat(shoal.db, shoal.chat, lambda: None, alone(shoal))
    scheduler.handle("crew_nudge", advance=kind.advance, fire=kind.fire)
    return scheduler


async def crew_with_tasks(shoal: Shoal, clock: Clock, *, done: bool = False) -> CrewRows:
    """A lead and a developer, two tasks open and one done (or all three done), the
    heartbeat scheduled from the clock's now."""
    crew = await make_crew(shoal.db, [("boss", "lead"), ("dev", "developer")], now=clock.now,
                           lead_idle_seconds=IDLE)
    await add_task(shoal.db, crew, "Write the login form", "done" if done else "todo")
    await add_task(shoal.db, crew, "Hash the passwords", "done" if done else "in_progress",
                   "dev")
    await add_task(shoal.db, crew, "Pick a framework", "done")
    async with shoal.db.write() as session:
        row = await session.get(Crew, crew.crew_id)
        assert row is not None
        await schedule_crew(session, row, clock.now)
    return crew


async def nudges(shoal: Shoal, crew: CrewRows) -> list[Activation]:
    async with shoal.db.read() as session:
        return list((await session.scalars(select(Activation).where(
            Activation.bot_id == crew.lead, Activation.trigger_kind == "crew")
            .order_by(Activation.created_at))).all())


async def room_texts(shoal: Shoal, crew: CrewRows) -> list[str]:
    async with shoal.db.read() as session:
        room = await session.get(Room, crew.room_id)
        assert room is not None
        return [m["content"] for m in await history(session, room)]


async def step(scheduler: Scheduler, clock: Clock, seconds: int) -> None:
    clock.advance(seconds=seconds)
    await scheduler.run_due()


async def test_an_idle_lead_with_tasks_left_is_nudged_with_the_open_tasks(
        shoal: Shoal, clock: Clock) -> None:
    scheduler = heartbeat(shoal, clock)
    crew = await crew_with_tasks(shoal, clock)
    await step(scheduler, clock, IDLE - 1)
    assert await nudges(shoal, crew) == []
    await step(scheduler, clock, 1)
    [nudge] = await nudges(shoal, crew)
    assert (nudge.status, nudge.crew_id, nudge.crew_role, nudge.room_id) == (
        "pending", crew.crew_id, "lead", crew.room_id)
    prompt = nudge.payload["prompt"]
    assert "You have been idle for 5 min and 2 task(s) are not done" in prompt
    assert "- [todo] Write the login form (unassigned;" in prompt
    assert "- [in_progress] Hash the passwords (@dev;" in prompt
    assert "Pick a framework" not in prompt
    assert await room_texts(shoal, crew) == []  # a nudge wakes the lead, not the room
    async with shoal.db.read() as session:
        kinds = (await session.scalars(select(CrewActivity.kind).where(
            CrewActivity.crew_id == crew.crew_id))).all()
    assert list(kinds) == ["nudge"]


async def test_no_nudge_when_every_task_is_done(shoal: Shoal, clock: Clock) -> None:
    scheduler = heartbeat(shoal, clock)
    crew = await crew_with_tasks(shoal, clock, done=True)
    for _ in range(3):
        await step(scheduler, clock, IDLE)
    assert await nudges(shoal, crew) == []
    await add_task(shoal.db, crew, "One more thing")  # work comes back: so does the heartbeat
    await step(scheduler, clock, IDLE)
    assert len(await nudges(shoal, crew)) == 1


async def test_no_nudge_while_the_lead_works_and_the_idle_time_counts_from_its_end(
        shoal: Shoal, clock: Clock) -> None:
    scheduler = heartbeat(shoal, clock)
    crew = await crew_with_tasks(shoal, clock)
    await start_work(shoal.db, crew, "boss")
    await step(scheduler, clock, IDLE)
    await step(scheduler, clock, IDLE)
    assert await nudges(shoal, crew) == []
    await finish_work(shoal.db, crew, "boss", clock.now)
    await step(scheduler, clock, IDLE - 1)
    assert await nudges(shoal, crew) == []
    await step(scheduler, clock, 1)
    assert len(await nudges(shoal, crew)) == 1


async def test_halt_heartbeat_stops_it_until_resume_heartbeat(shoal: Shoal,
                                                              clock: Clock) -> None:
    scheduler = heartbeat(shoal, clock)
    crew = await crew_with_tasks(shoal, clock)
    source = HeartbeatTools(alone(shoal), clock, lambda: None)
    async with shoal.db.read() as session:
        lead, dev = await session.get(User, crew.lead), await session.get(User, crew["dev"])
    assert lead is not None and dev is not None
    offered = (await source.tools(ToolScope(dev, crew.house_id, crew.room_id))).tools
    assert offered == []  # only the lead has them
    tools = {t.name: t for t in (await source.tools(
        ToolScope(lead, crew.house_id, crew.room_id, "activation"))).tools}
    assert set(tools) == {"halt_heartbeat", "resume_heartbeat"}
    assert "halted" in await tools["halt_heartbeat"].run({})
    with pytest.raises(ToolError, match="already halted"):
        await tools["halt_heartbeat"].run({})
    for _ in range(3):
        await step(scheduler, clock, IDLE)
    assert await nudges(shoal, crew) == []
    assert "running again" in await tools["resume_heartbeat"].run({})
    # The lead resuming is the lead acting: it is nudged once idle again.
    await step(scheduler, clock, IDLE - 1)
    assert await nudges(shoal, crew) == []
    await step(scheduler, clock, 1)
    assert len(await nudges(shoal, crew)) == 1


async def test_three_unanswered_nudges_back_off_and_tell_the_room_once(
        shoal: Shoal, clock: Clock) -> None:
    scheduler = heartbeat(shoal, clock)
    crew = await crew_with_tasks(shoal, clock)
    for count in (1, 2, 3):
        await step(scheduler, clock, IDLE)
        assert len(await nudges(shoal, crew)) == count
        await finish_work(shoal.db, crew, "boss", clock.now)  # a silent answer
    for _ in range(3):
        await step(scheduler, clock, IDLE)
    assert len(await nudges(shoal, crew)) == 3
    [notice] = await room_texts(shoal, crew)
    assert notice.startswith("The crew's lead (boss) has not answered 3 reminders in a row, "
                              "with 2 task(s) still open.")
    # The lead acts again (a task update of its own): the heartbeat starts over.
    await record(shoal.db, crew, "boss", "task_updated", "Hash the passwords → blocked",
                 clock.now)
    await step(scheduler, clock, IDLE)
    assert len(await nudges(shoal, crew)) == 4
    async with shoal.db.read() as session:
        row = await session.get(Crew, crew.crew_id)
        assert row is not None and row.unanswered_nudges == 1
    assert len(await room_texts(shoal, crew)) == 1


async def test_a_reply_answers_a_nudge(shoal: Shoal, clock: Clock) -> None:
    scheduler = heartbeat(shoal, clock)
    crew = await crew_with_tasks(shoal, clock)
    for _ in range(5):
        await step(scheduler, clock, IDLE)
        clock.advance(seconds=10)
        await finish_work(shoal.db, crew, "boss", clock.now, outcome="replied")
    assert len(await nudges(shoal, crew)) == 5
    assert await room_texts(shoal, crew) == []


@pytest.mark.parametrize("migrated", POSTGRES, indirect=True)
async def test_two_schedulers_on_one_database_nudge_each_lead_once(shoal: Shoal,
                                                                  clock: Clock) -> None:
    # A second Shoal on the same PostgreSQL database stands for a second scheduler process.
    other = Shoal(shoal.settings)
    try:
        crews = [await crew_with_tasks(shoal, clock) for _ in range(20)]
        first, second = heartbeat(shoal, clock), heartbeat(other, clock)
        for expected in (1, 2):
            clock.advance(seconds=IDLE)
            await asyncio.gather(first.run_due(), second.run_due())
            for crew in crews:
                assert len(await nudges(shoal, crew)) == expected
                await finish_work(shoal.db, crew, "boss", clock.now)
    finally:
        await other.stop()


async def test_people_see_halt_and_resume_the_heartbeat_over_rest(
        shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    crew = await make_crew(shoal_server.shoal.db, [("boss", "lead")], house_id=house.id,
                           room_id=house.room_id)
    url = f"/api/crews/{crew.crew_id}/heartbeat"
    r = await house.guest.get(url)
    assert r.status_code == 200, r.text
    assert r.json() == {**r.json(), "halted": False, "backed_off": False,
                        "unanswered_nudges": 0, "lead_idle_seconds": 300}
    r = await house.guest.patch(url, {"halted": True})
    assert r.status_code == 403 and "may not post" in r.json()["error"], r.text
    r = await house.member.patch(url, {"halted": True})
    assert r.status_code == 200 and r.json()["halted"] is True
    assert r.json()["next_check_at"] is None
    r = await house.member.patch(url, {"halted": True})
    assert r.status_code == 409 and "already halted" in r.json()["error"], r.text
    r = await house.admin.patch(url, {"halted": False})
    assert r.status_code == 200 and r.json()["halted"] is False
    assert r.json()["next_check_at"] is not None
    r = await house.member.patch(url, {"halted": "soon"})
    assert r.status_code == 400, r.text
    outsider = await shoal_server.register()
    assert (await outsider.get(url)).status_code == 404
    assert (await house.member.get("/api/crews/nope/heartbeat")).status_code == 404


async def test_the_lead_reads_the_reminder_with_the_open_tasks_and_answers(
        bench: Bench, fake: FakeLLMServer) -> None:
    shoal = bench.server.shoal
    crew = await make_crew(shoal.db, [("helper", "developer")], room_id=bench.room_id,
                           house_id=bench.house.id, lead_idle_seconds=IDLE)
    await add_task(shoal.db, crew, "Hash the passwords", "todo", "helper")
    # A day ahead: long past the lead's idle time, and no real scheduler finds the rows due.
    clock = Clock(utcnow() + timedelta(days=1))
    async with shoal.db.write() as session:  # Scout leads the crew in its room
        row = await session.get(Crew, crew.crew_id)
        assert row is not None
        row.lead_bot_id = crew.lead = bench.bot_id
        session.add(CrewMember(crew_id=crew.crew_id, bot_id=bench.bot_id, role="lead"))
        await schedule_crew(session, row, clock.now)
        # The shared server holds other tests' crews, whose leads this clock would find idle
        # too and whose nudges could take the scripted answer: only this crew's check is due.
        await session.execute(update(Schedule).where(
            Schedule.kind == lead_heartbeat.KIND, Schedule.target_id != crew.crew_id)
            .values(due_at=None))
    scheduler = Scheduler(shoal.db, shoal.settings, clock=clock)
    kind = LeadHeartbeat(shoal.db, shoal.chat, shoal.worker.wake, shoal.crew_feed)
    scheduler.handle("crew_nudge", advance=kind.advance, fire=kind.fire)
    fake.script(Reply("On it: helper, start on the passwords."))
    try:
        await step(scheduler, clock, IDLE)
        async with asyncio.timeout(15):
            while not (done := [n for n in await nudges(shoal, crew) if n.status == "done"]):
                await asyncio.sleep(0.05)
    finally:
        async with shoal.db.write() as session:
            for name in (refresh.KIND, lead_heartbeat.KIND):
                await remove_due(session, name, crew.crew_id)
    [nudge] = done
    assert (nudge.bot_id, nudge.outcome) == (bench.bot_id, "replied")
    [request] = fake.requests
    asked = request.body["messages"][-1]["content"]
    assert asked.startswith("[Crew heartbeat] You lead the crew working on: Ship the auth")
    assert "- [todo] Hash the passwords (@helper;" in asked
    [reply] = [m for m in await bench.messages_after(0) if m["sender_id"] == bench.bot_id]
    assert reply["content"] == "On it: helper, start on the passwords."
