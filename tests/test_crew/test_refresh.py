"""CREW_UPDATE pushed into receivers' sessions: every refresh_seconds to receivers at work,
when an agent joins, and when a member's context is compacted; never into the room."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import func, select, update

from shoal.core import Shoal
from shoal.crew.refresh import CrewRefresh
from shoal.crew.sync import CrewSync, schedule_crew
from shoal.crew.tables import Crew, CrewMember
from shoal.crew.update import OPEN_MARKER
from shoal.ids import new_id
from shoal.llm import ChatMessage
from shoal.llm.fakeserver import FakeLLMServer, FakeToolCall, Reply
from shoal.rooms.messages import history
from shoal.runtime.sessions import append_turns, open_session
from shoal.scheduler.service import Scheduler
from shoal.store.tables import Message, Room
from tests.support import Clock
from tests.test_crew.support import (
    CrewRows,
    finish_work,
    join_crew,
    make_crew,
    session_texts,
    start_work,
)
from tests.test_runtime.conftest import Bench, bench, fake, fake_server
from tests.test_runtime.test_compaction import long_conversation
from tests.test_scheduler.conftest import clock, migrated, shoal

__all__ = ["bench", "clock", "fake", "fake_server", "migrated", "shoal"]  # fixtures used


def room_key(crew: CrewRows) -> str:
    return f"room:{crew.room_id}"


async def updates(shoal: Shoal, crew: CrewRows, handle: str) -> list[str]:
    """The CREW_UPDATE blocks in the agent's room session."""
    return [t for t in await session_texts(shoal.db, crew[handle], room_key(crew))
            if t.startswith(OPEN_MARKER)]


async def room_messages(shoal: Shoal, room_id: str) -> int:
    async with shoal.db.read() as session:
        return await session.scalar(select(func.count()).select_from(Message).where(
            Message.room_id == room_id)) or 0


def refresher(shoal: Shoal, clock: Clock) -> tuple[Scheduler, CrewRefresh]:
    scheduler = Scheduler(shoal.db, shoal.settings, clock=clock)
    kind = CrewRefresh(shoal.db)
    scheduler.handle("crew_refresh", advance=kind.advance, fire=kind.fire)
    return scheduler, kind


async def scheduled_crew(shoal: Shoal, clock: Clock, **columns: object) -> CrewRows:
    """Lead and secretary at work, an idle architect, a developer at work (it receives
    none), scheduled from the clock's now."""
    crew = await make_crew(shoal.db, [("boss", "lead"), ("arch", "architect"),
                                      ("sec", "secretary"), ("dev", "developer")],
                           now=clock.now, **columns)
    for handle in ("boss", "sec", "dev"):
        await start_work(shoal.db, crew, handle)
    async with shoal.db.write() as session:
        row = await session.get(Crew, crew.crew_id)
        assert row is not None
        await schedule_crew(session, row, clock.now)
    return crew


async def counts(shoal: Shoal, crew: CrewRows) -> dict[str, int]:
    return {h: len(await updates(shoal, crew, h)) for h in ("boss", "arch", "sec", "dev")}


async def test_every_180_seconds_receivers_at_work_get_one_and_the_room_none(
        shoal: Shoal, clock: Clock) -> None:
    scheduler, _ = refresher(shoal, clock)
    crew = await scheduled_crew(shoal, clock)
    clock.advance(seconds=179)
    await scheduler.run_due()
    assert await counts(shoal, crew) == {"boss": 0, "arch": 0, "sec": 0, "dev": 0}
    clock.advance(seconds=1)
    await scheduler.run_due()
    assert await counts(shoal, crew) == {"boss": 1, "arch": 0, "sec": 1, "dev": 0}
    # The lead goes idle: from then on only the secretary hears.
    await finish_work(shoal.db, crew, "boss", clock.now)
    clock.advance(seconds=180)
    await scheduler.run_due()
    assert await counts(shoal, crew) == {"boss": 1, "arch": 0, "sec": 2, "dev": 0}
    [block] = await updates(shoal, crew, "boss")
    assert "- Agent boss (Lead) — Status: running" in block
    assert "- Agent dev (Developer) — Status: running" in block
    assert await room_messages(shoal, crew.room_id) == 0


async def test_the_interval_is_the_crews_refresh_seconds(shoal: Shoal, clock: Clock) -> None:
    scheduler, _ = refresher(shoal, clock)
    crew = await scheduled_crew(shoal, clock, refresh_seconds=60)
    for expected in (1, 2, 3):
        clock.advance(seconds=60)
        await scheduler.run_due()
        assert len(await updates(shoal, crew, "boss")) == expected


async def test_an_ended_crew_stops_refreshing(shoal: Shoal, clock: Clock) -> None:
    scheduler, _ = refresher(shoal, clock)
    crew = await scheduled_crew(shoal, clock)
    async with shoal.db.write() as session:
        row = await session.get(Crew, crew.crew_id)
        assert row is not None
        row.state = "ended"
    clock.advance(seconds=180)
    await scheduler.run_due()
    assert await counts(shoal, crew) == {"boss": 0, "arch": 0, "sec": 0, "dev": 0}


async def test_a_joining_agent_and_the_receivers_at_work_get_one(shoal: Shoal,
                                                                 clock: Clock) -> None:
    _, kind = refresher(shoal, clock)
    crew = await make_crew(shoal.db, [("boss", "lead"), ("arch", "architect"),
                                      ("dev", "developer")])
    await start_work(shoal.db, crew, "boss")
    sync = CrewSync(shoal.db, kind, clock, lambda: None)
    await join_crew(shoal.db, crew, "sec2", "secretary")
    await sync.member_joined(crew.crew_id, crew["sec2"])
    [joined] = await updates(shoal, crew, "sec2")
    assert "- Agent sec2 (Secretary) — Status: idle" in joined
    assert len(await updates(shoal, crew, "boss")) == 1  # at work: told of the newcomer
    assert await updates(shoal, crew, "arch") == []  # idle
    # A developer joining gets none (its role does not receive them); the lead does.
    await join_crew(shoal.db, crew, "dev2", "developer")
    await sync.member_joined(crew.crew_id, crew["dev2"])
    assert await updates(shoal, crew, "dev2") == []
    assert len(await updates(shoal, crew, "boss")) == 2


async def test_a_compacted_lead_gets_one_and_sees_it_at_its_next_model_call(
        bench: Bench, fake: FakeLLMServer) -> None:
    shoal = bench.server.shoal
    crew = await make_crew(shoal.db, [("helper", "developer")], room_id=bench.room_id,
                           house_id=bench.house.id)
    async with shoal.db.write() as session:  # Scout leads the crew in its room
        row = await session.get(Crew, crew.crew_id)
        assert row is not None
        row.lead_bot_id = crew.agents["scout"] = bench.bot_id
        session.add(CrewMember(crew_id=crew.crew_id, bot_id=bench.bot_id, role="lead"))
    trigger = await long_conversation(bench)
    fake.script(Reply(tool_calls=[FakeToolCall("memory_save", {"text": "blue-42"})]),
                Reply("A member said the launch code is blue-42."),
                Reply("The launch code is blue-42."))
    assert (await bench.run(trigger)).outcome == "replied"
    # The answering call, right after the compaction, reads the block after the summary.
    turns = fake.requests[2].body["messages"][1:]
    assert turns[0]["content"].startswith("[Summary of the earlier conversation")
    [block] = [t["content"] for t in turns if t["content"].startswith(OPEN_MARKER)]
    assert "- Agent helper (Developer) — Status: idle" in block
    assert len(await updates(shoal, crew, "scout")) == 1
    async with shoal.db.read() as session:
        room = await session.get(Room, bench.room_id)
        assert room is not None
        assert not any(OPEN_MARKER in m["content"] for m in await history(session, room))


async def test_a_member_spawned_as_a_sub_agent_gets_it_in_its_own_session_once_started(
        shoal: Shoal, clock: Clock) -> None:
    _, kind = refresher(shoal, clock)
    crew = await make_crew(shoal.db, [("boss", "lead")])
    started, waiting = new_id(), new_id()
    for handle, sub_id in (("arch", started), ("arch2", waiting)):
        await join_crew(shoal.db, crew, handle, "architect")
        async with shoal.db.write() as session:
            await session.execute(update(CrewMember).where(CrewMember.bot_id == crew[handle])
                                  .values(subagent_id=sub_id))
        await start_work(shoal.db, crew, handle)
    child = await open_session(shoal.db, crew["arch"], crew.house_id, crew.room_id,
                               f"subagent:{started}")
    await append_turns(shoal.db, child.id, [ChatMessage("user", "Design the schema")])
    assert await kind.refresh(crew.crew_id) == 1
    task, block = await session_texts(shoal.db, crew["arch"], f"subagent:{started}")
    assert task == "Design the schema" and block.startswith(OPEN_MARKER)
    # One not started yet keeps an empty session: its task must come first.
    assert await session_texts(shoal.db, crew["arch2"], f"subagent:{waiting}") == []
    assert await updates(shoal, crew, "arch") == [] == await updates(shoal, crew, "arch2")


async def test_a_refresh_pushed_while_the_lead_runs_reaches_its_next_model_call(
        bench: Bench, fake: FakeLLMServer) -> None:
    shoal = bench.server.shoal
    crew = await make_crew(shoal.db, [("helper", "developer")], room_id=bench.room_id,
                           house_id=bench.house.id)
    async with shoal.db.write() as session:  # Scout leads the crew in its room
        row = await session.get(Crew, crew.crew_id)
        assert row is not None
        row.lead_bot_id = crew.agents["scout"] = bench.bot_id
        session.add(CrewMember(crew_id=crew.crew_id, bot_id=bench.bot_id, role="lead"))
    trigger = await bench.say("Scout, how is the crew doing?")
    # The first answer streams slowly and calls a tool: the refresh lands meanwhile.
    fake.script(Reply("Let me look.", tool_calls=[FakeToolCall("memory_search",
                                                               {"query": "auth"})],
                      chunk_delay=0.5),
                Reply("The helper is idle."))
    run = asyncio.create_task(bench.run(trigger))
    async with asyncio.timeout(15):
        while not fake.requests:
            await asyncio.sleep(0.02)
    assert await CrewRefresh(shoal.db).refresh(crew.crew_id) == 1  # Scout is at work
    assert (await run).outcome == "replied"
    first, second = (json.dumps(r.body["messages"]) for r in fake.requests)
    assert "CREW_UPDATE" not in first
    assert "- Agent helper (Developer) — Status: idle" in json.loads(second)[-1]["content"]
