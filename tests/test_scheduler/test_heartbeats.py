"""Heartbeats: the /heartbeat command family, its REST listing, and beats that wake agents."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from shoal.auth.accounts import create_bot
from shoal.core import Shoal
from shoal.rooms.houses import add_house_member
from shoal.rooms.messages import history
from shoal.scheduler.service import Scheduler, due_times
from shoal.scheduler.tables import Heartbeat
from shoal.schedules.heartbeats import HeartbeatKind, set_enabled, set_heartbeat
from shoal.store.tables import Activation, Room, User
from shoal.store.tables import House as HouseRow
from tests.support import Clock, ShoalServer, Socket, make_house, unique
from tests.support import House as PeopleHouse
from tests.test_runtime.conftest import builtin_runtime
from tests.test_scheduler.conftest import BACKENDS

POSTGRES = [b for b in BACKENDS if b == "postgres"]


async def run(sock: Socket, room_id: str, text: str) -> dict[str, Any]:
    return await sock.call("send-message", {"agencyId": room_id, "content": text})  # type: ignore[no-any-return]


async def add_bot(server: ShoalServer, house: PeopleHouse, name: str = "ops",
                  **config: Any) -> tuple[str, str]:
    """A verified builtin bot in the house (public rooms are open to it): (id, handle)."""
    async with server.shoal.db.write() as session:
        bot = await create_bot(session, unique(name), house.owner.id, verified=True)
        bot.config = {"model": {"primary": "offline"}, **config}
        member = await add_house_member(session, house.id, bot, "member")
        return bot.id, member.handle


@pytest.fixture
async def house(shoal_server: ShoalServer) -> PeopleHouse:
    return await make_house(shoal_server)


async def test_every_form_of_the_command_gets_its_answer(shoal_server: ShoalServer,
                                                         house: PeopleHouse) -> None:
    _, handle = await add_bot(shoal_server, house)
    sock = await house.admin.socket()
    room = house.room_id
    empty = await run(sock, room, "/heartbeat")
    assert empty["ok"] and empty["content"].startswith("No heartbeats in this house")

    for text, answer in [
        (f"/heartbeat @{handle} 60s", "checks in every 1m"),
        (f"/heartbeat @{handle} 5m", "checks in every 5m"),
        (f"/heartbeat @{handle} 6h", "checks in every 6h"),
        (f"/heartbeat @{handle} 1d", "checks in every 1d"),
        (f"/heartbeat @{handle} 7d", "checks in every 7d"),
        (f"/heartbeat @{handle} 1h", "checks in every 1h"),
    ]:
        ack = await run(sock, room, text)
        assert ack["ok"] and answer in ack["content"], (text, ack)

    for text, error in [
        (f"/heartbeat @{handle} 59s", "too short: the minimum is 1m"),
        (f"/heartbeat @{handle} 8d", "too long: the maximum is 7d"),
        (f"/heartbeat @{handle} 10x", "'10x' is not an interval"),
        (f"/heartbeat @{handle} 5 m", "unexpected text after the interval 5"),
        (f"/heartbeat @{handle} soon", "'soon' is not an interval"),
        (f"/heartbeat @{handle}", "give an interval"),
        (f"/heartbeat @{handle} prompt", "give the prompt text"),
        ("/heartbeat @nobody-here 5m", "no agent in this house is @nobody-here"),
        (f"/heartbeat {handle} 5m", "name the agent with its @handle"),
    ]:
        ack = await run(sock, room, text)
        assert ack["ok"] is False and error in ack["error"], (text, ack)

    ack = await run(sock, room, f"/heartbeat @{handle} prompt Check the error dashboard.")
    assert ack["ok"] and "prompt" in ack["content"]
    listing = await run(sock, room, "/heartbeat")
    [view] = listing["metadata"]["heartbeats"]
    assert (view["agent_handle"], view["interval"], view["prompt"], view["enabled"]) == (
        handle, "1h", "Check the error dashboard.", True)
    assert f"@{handle} in #" in listing["content"] and " every 1h " in listing["content"]

    assert "is off" in (await run(sock, room, f"/heartbeat @{handle} off"))["content"]
    again = await run(sock, room, f"/heartbeat @{handle} off")
    assert again["ok"] is False and "already off" in again["error"]
    listing = await run(sock, room, "/heartbeat")
    assert listing["metadata"]["heartbeats"][0]["next_run_at"] is None
    assert "is on" in (await run(sock, room, f"/heartbeat @{handle} on"))["content"]
    assert "deleted" in (await run(sock, room, f"/heartbeat @{handle} delete"))["content"]
    gone = await run(sock, room, f"/heartbeat @{handle} off")
    assert gone["ok"] is False and "no heartbeat" in gone["error"]


async def test_the_bare_command_lists_every_room_of_the_house(shoal_server: ShoalServer,
                                                             house: PeopleHouse) -> None:
    _, handle = await add_bot(shoal_server, house)
    rooms = []
    for _ in range(2):
        r = await house.owner.post("/api/agencies", {"name": unique("room"), "houseId": house.id})
        assert r.status_code == 201, r.text
        rooms.append(r.json())
    sock = await house.admin.socket()
    for room, interval in zip(rooms, ("1h", "2h"), strict=True):
        assert (await run(sock, room["id"], f"/heartbeat @{handle} {interval}"))["ok"]
    # Asked from the house's first room, which has no heartbeat of its own.
    listing = await run(sock, house.room_id, "/heartbeat")
    assert listing["ok"], listing
    assert {v["agencyId"] for v in listing["metadata"]["heartbeats"]} == {r["id"] for r in rooms}
    for room, interval in zip(rooms, ("1h", "2h"), strict=True):
        assert f"@{handle} in #{room['slug']} every {interval}" in listing["content"]


async def test_a_blank_prompt_is_refused_over_rest(shoal_server: ShoalServer,
                                                  house: PeopleHouse) -> None:
    _, handle = await add_bot(shoal_server, house)
    r = await house.admin.post(f"/api/agencies/{house.room_id}/heartbeats",
                               {"agent": f"@{handle}", "interval": "1h", "prompt": "Check CI"})
    assert r.status_code == 201, r.text
    beat_id = r.json()["id"]
    r = await house.admin.patch(f"/api/heartbeats/{beat_id}", {"prompt": "  "})
    assert r.status_code == 400 and "the prompt is blank" in r.json()["error"], r.text
    r = await house.admin.post(f"/api/agencies/{house.room_id}/heartbeats",
                               {"agent": f"@{handle}", "interval": "2h", "prompt": " \n "})
    assert r.status_code == 400 and "the prompt is blank" in r.json()["error"], r.text
    [view] = (await house.admin.get(f"/api/houses/{house.id}/heartbeats")).json()
    assert (view["prompt"], view["interval"]) == ("Check CI", "1h")


@pytest.mark.parametrize("role", ["member", "guest"])
async def test_only_admins_and_owners_manage_heartbeats(shoal_server: ShoalServer,
                                                        house: PeopleHouse, role: str) -> None:
    _, handle = await add_bot(shoal_server, house)
    sock = await getattr(house, role).socket()
    for text in ("/heartbeat", f"/heartbeat @{handle} 5m"):
        ack = await run(sock, house.room_id, text)
        assert ack["ok"] is False
        assert ("only house admins and owners" in ack["error"]) or role == "guest"
    owner = await house.owner.socket()
    assert (await run(owner, house.room_id, f"/heartbeat @{handle} 5m"))["ok"]


async def test_the_house_lists_its_heartbeats_over_rest(shoal_server: ShoalServer,
                                                        house: PeopleHouse) -> None:
    _, handle = await add_bot(shoal_server, house)
    sock = await house.admin.socket()
    await run(sock, house.room_id, f"/heartbeat @{handle} 30m")
    r = await house.admin.get(f"/api/houses/{house.id}/heartbeats")
    assert r.status_code == 200, r.text
    [view] = r.json()
    assert view["agencyId"] == house.room_id and view["interval_seconds"] == 1800
    assert view["next_run_at"] and view["last_run_at"] is None
    assert (await house.member.get(f"/api/houses/{house.id}/heartbeats")).status_code == 403


async def test_a_due_beat_mentions_the_agent_and_a_quiet_agent_posts_nothing(
        shoal_server: ShoalServer, house: PeopleHouse) -> None:
    shoal = shoal_server.shoal
    bot_id, handle = await add_bot(shoal_server, house)
    worker = shoal.worker
    saved = dict(worker.runtimes)
    worker.runtimes["builtin"] = builtin_runtime(shoal)
    clock = Clock(shoal.scheduler.clock())
    scheduler = Scheduler(shoal.db, shoal.settings, clock=clock)
    kind = HeartbeatKind(shoal.db, shoal.chat)
    scheduler.handle("heartbeat", advance=kind.advance, fire=kind.fire)
    watcher = await house.member.socket()
    await watcher.join(house.room_id)
    try:
        async with shoal.db.write() as session:
            beat = await set_heartbeat(session, house_id=house.id, room_id=house.room_id,
                                       bot_id=bot_id, interval_seconds=600,
                                       created_by=house.admin.id, now=clock.now)
        clock.advance(seconds=600)
        assert await scheduler.run_due() >= 1  # other tests' beats on this server may be due
        [posted] = await watcher.wait_for("message")
        assert posted["content"].startswith(f"@{handle} Heartbeat:")
        assert posted["metadata"]["heartbeat"] is True and posted["sender_id"] == "system"
        # The offline model has nothing to report on a check-in: it answers the silent token.
        activation = await _activation_for(shoal, posted["id"])
        assert activation.trigger_kind == "heartbeat"
        assert (activation.outcome, activation.skip_reason) == ("skipped", "silent")
        assert len(watcher.received("message")) == 1
    finally:
        worker.runtimes.clear()
        worker.runtimes.update(saved)
        async with shoal.db.write() as session:
            await session.delete(await session.get(Heartbeat, beat.id))


async def _activation_for(shoal: Shoal, message_id: str) -> Activation:
    async with asyncio.timeout(15):
        while True:
            async with shoal.db.read() as session:
                row = await session.scalar(select(Activation).where(
                    Activation.trigger_message_id == message_id))
            if row is not None and row.status == "done":
                return row
            await asyncio.sleep(0.05)


async def _scheduled_beat(shoal: Shoal, clock: Clock, interval: int) -> tuple[Scheduler, str]:
    """A heartbeat in a fresh house of a bare Shoal, driven by `clock`: (scheduler, id)."""
    async with shoal.db.write() as session:
        owner = User(username=unique("o"), username_key=unique("o"), display_name="O")
        house = HouseRow(name="h", slug=unique("h"))
        session.add_all([owner, house])
        await session.flush()
        room = Room(house_id=house.id, slug="ops", name="ops")
        session.add(room)
        bot = await create_bot(session, unique("bot"), owner.id, verified=True)
        await add_house_member(session, house.id, bot, "member")
        await session.flush()
        beat = await set_heartbeat(session, house_id=house.id, room_id=room.id, bot_id=bot.id,
                                   interval_seconds=interval, created_by=owner.id,
                                   now=clock.now)
    scheduler = Scheduler(shoal.db, shoal.settings, clock=clock)
    kind = HeartbeatKind(shoal.db, shoal.chat)
    scheduler.handle("heartbeat", advance=kind.advance, fire=kind.fire)
    return scheduler, beat.id


async def _beats(shoal: Shoal, beat_id: str) -> list[dict[str, Any]]:
    async with shoal.db.read() as session:
        beat = await session.get(Heartbeat, beat_id)
        assert beat is not None
        room = await session.get(Room, beat.room_id)
        assert room is not None
        return [m for m in await history(session, room, limit=100)
                if m["metadata"].get("heartbeat_id") == beat_id]


async def test_beats_fire_on_time_and_catch_up_once_after_downtime(shoal: Shoal, clock: Clock
                                                                   ) -> None:
    start = clock.now
    scheduler, beat_id = await _scheduled_beat(shoal, clock, 300)
    clock.advance(seconds=299)
    await scheduler.run_due()
    assert await _beats(shoal, beat_id) == []
    clock.advance(seconds=1)
    await scheduler.run_due()
    assert len(await _beats(shoal, beat_id)) == 1
    # The server is down for an hour and ten seconds: twelve beats were missed.
    clock.advance(hours=1, seconds=10)
    await scheduler.run_due()
    await scheduler.run_due()
    assert len(await _beats(shoal, beat_id)) == 2
    async with shoal.db.read() as session:
        due = (await due_times(session, "heartbeat", [beat_id]))[beat_id]
        beat = await session.get(Heartbeat, beat_id)
        assert beat is not None and beat.last_fired_at == clock.now
    # The rhythm is kept: the next beat is on the original five-minute grid.
    assert due == start + timedelta(seconds=300 * 14)


async def test_a_paused_beat_does_not_fire(shoal: Shoal, clock: Clock) -> None:
    scheduler, beat_id = await _scheduled_beat(shoal, clock, 60)
    async with shoal.db.write() as session:
        beat = await session.get(Heartbeat, beat_id)
        assert beat is not None
        await set_enabled(session, beat, False, clock.now)
    clock.advance(minutes=5)
    await scheduler.run_due()
    assert await _beats(shoal, beat_id) == []


@pytest.mark.parametrize("migrated", POSTGRES, indirect=True)
async def test_two_schedulers_on_one_database_fire_each_beat_once(shoal: Shoal, clock: Clock
                                                                  ) -> None:
    # A second Shoal on the same PostgreSQL database stands for a second scheduler process:
    # its own engine, connections and appender. (Several processes need PostgreSQL; SQLite
    # serves one process.)
    other = Shoal(shoal.settings)
    try:
        beats = [await _scheduled_beat(shoal, clock, 60) for _ in range(20)]
        first = beats[0][0]
        second = Scheduler(other.db, other.settings, clock=clock)
        kind = HeartbeatKind(other.db, other.chat)
        second.handle("heartbeat", advance=kind.advance, fire=kind.fire)
        for _ in range(3):  # three due times
            clock.advance(seconds=60)
            await asyncio.gather(first.run_due(), second.run_due())
        for _, beat_id in beats:
            assert len(await _beats(shoal, beat_id)) == 3
    finally:
        await other.stop()
