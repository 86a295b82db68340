"""Cron jobs: the /cron family, isolated and silent turns, one-shots, errors, DST."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select

from shoal.llm.fakeserver import FakeLLMServer, Fault, Reply
from shoal.scheduler.service import Scheduler
from shoal.scheduler.tables import CronJob
from shoal.scheduler.timing import next_cron_time
from shoal.schedules.cron import CronKind, When, create_job
from shoal.store.tables import Activation
from tests.support import Clock, ShoalServer, Socket, make_house
from tests.support import House as PeopleHouse
from tests.test_runtime.conftest import (  # noqa: F401
    FAKE_MODEL,
    builtin_runtime,
    fake,
    fake_server,
)
from tests.test_scheduler.test_heartbeats import add_bot, run

if TYPE_CHECKING:
    from shoal.core import Shoal

NY = "America/New_York"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def test_a_daily_job_keeps_its_wall_clock_time_across_dst() -> None:
    # 09:00 in New York is 14:00 UTC in winter and 13:00 UTC in summer.
    assert next_cron_time("0 9 * * *", NY, utc(2026, 3, 7, 15)) == utc(2026, 3, 8, 13)
    assert next_cron_time("0 9 * * *", NY, utc(2026, 10, 31, 14)) == utc(2026, 11, 1, 14)


def test_a_skipped_wall_time_fires_once_an_hour_later_by_the_clock() -> None:
    # 02:30 does not exist on 8 March 2026 in New York; it fires at 03:30 EDT (07:30 UTC).
    assert next_cron_time("30 2 * * *", NY, utc(2026, 3, 8, 5)) == utc(2026, 3, 8, 7, 30)
    assert next_cron_time("30 2 * * *", NY, utc(2026, 3, 8, 7, 30)) == utc(2026, 3, 9, 6, 30)


def test_a_repeated_wall_time_fires_once() -> None:
    # 01:30 happens twice on 1 November 2026 in New York: 05:30 and 06:30 UTC.
    first = next_cron_time("30 1 * * *", NY, utc(2026, 11, 1, 4))
    assert first == utc(2026, 11, 1, 5, 30)
    assert next_cron_time("30 1 * * *", NY, first) == utc(2026, 11, 2, 6, 30)


@pytest.fixture
async def house(shoal_server: ShoalServer) -> PeopleHouse:
    return await make_house(shoal_server)


@pytest.fixture
async def builtin_worker(shoal_server: ShoalServer) -> AsyncIterator[None]:
    worker = shoal_server.shoal.worker
    saved = dict(worker.runtimes)
    worker.runtimes["builtin"] = builtin_runtime(shoal_server.shoal)
    yield
    worker.runtimes.clear()
    worker.runtimes.update(saved)


async def test_every_form_of_the_command_gets_its_answer(shoal_server: ShoalServer,
                                                         house: PeopleHouse) -> None:
    _, handle = await add_bot(shoal_server, house, "digest")
    sock = await house.admin.socket()
    room = house.room_id
    assert (await run(sock, room, "/cron list"))["content"].startswith("No cron jobs")
    added = await run(sock, room, f'/cron add @{handle} "0 9 * * 1-5" --tz Europe/Berlin '
                                  "Write the morning digest")
    assert added["ok"], added
    assert 'runs cron "0 9 * * 1-5" (Europe/Berlin)' in added["content"]
    job = added["metadata"]["cron"]
    assert job["prompt"] == "Write the morning digest" and job["deliver"] is True
    assert job["next_run_at"].endswith(":00:00.000Z")
    every = await run(sock, room, f"/cron add @{handle} --every 30m --silent Check the queue")
    assert every["ok"] and "runs every 30m" in every["content"] and "silently" in every["content"]
    once = await run(sock, room, f"/cron add @{handle} --at 2m Remind about standup")
    assert once["ok"] and "runs once at" in once["content"]

    for text, error in [
        (f'/cron add @{handle} "61 * * * *" Nope', "not a cron expression"),
        (f'/cron add @{handle} "0 9 * * *" --tz Mars/Olympus Nope', "unknown time zone"),
        (f'/cron add @{handle} "0 9 * * *"', "give the prompt"),
        (f"/cron add @{handle} --every 10s Too often", "too short"),
        (f"/cron add @{handle} --every 30m --at 10m Both", "exactly one schedule"),
        (f"/cron add @{handle} --at 2001-01-01T00:00 Late", "in the past"),
        (f"/cron add @{handle} --at tomorrowish Hmm", "is not a time"),
        ("/cron add @nobody-here --every 1h Hi", "no agent in this house is @nobody-here"),
        ("/cron remove", "give the job's id"),
        ("/cron remove zzzzzzzz", "no cron job"),
        ("/cron frobnicate", "unknown action"),
    ]:
        ack = await run(sock, room, text)
        assert ack["ok"] is False and error in ack["error"], (text, ack)

    listing = await run(sock, room, "/cron list")
    assert len(listing["metadata"]["cron_jobs"]) == 3
    short = job["short_id"]
    assert "disabled" in (await run(sock, room, f"/cron disable {short}"))["content"]
    listed = {v["id"]: v for v in (await run(sock, room, "/cron list"))["metadata"]["cron_jobs"]}
    assert listed[job["id"]]["enabled"] is False and listed[job["id"]]["next_run_at"] is None
    refused = await run(sock, room, f"/cron run-now {short}")
    assert refused["ok"] is False and "disabled" in refused["error"]
    assert "enabled" in (await run(sock, room, f"/cron enable {short}"))["content"]
    assert "removed" in (await run(sock, room, f"/cron remove {short}"))["content"]
    assert len((await run(sock, room, "/cron list"))["metadata"]["cron_jobs"]) == 2
    member = await house.member.socket()
    denied = await run(member, room, "/cron list")
    assert denied["ok"] is False and "only house admins and owners" in denied["error"]


async def test_answers_write_times_as_people_read_them_in_the_houses_zone(
        shoal_server: ShoalServer, house: PeopleHouse) -> None:
    r = await house.owner.patch(f"/api/houses/{house.id}/settings", {"timezone": "Europe/Berlin"})
    assert r.status_code == 200, r.text
    _, handle = await add_bot(shoal_server, house, "remind")
    sock = await house.admin.socket()
    room = house.room_id
    once = await run(sock, room, f"/cron add @{handle} --at 2031-07-04T09:30Z Ship it")
    assert once["ok"], once
    # 09:30 UTC is 11:30 in Berlin in summer; a time in another year says its year.
    assert "runs once at Fri 4 Jul 2031, 11:30 CEST, next at Fri 4 Jul 2031, 11:30 CEST" \
        in once["content"], once["content"]
    assert once["metadata"]["cron"]["at"] == "2031-07-04T09:30:00.000Z"  # the API keeps ISO
    every = await run(sock, room, f"/cron add @{handle} --every 1h Check in")
    assert every["ok"], every
    listing = (await run(sock, room, "/cron list"))["content"]
    assert "once at Fri 4 Jul 2031, 11:30 CEST (next Fri 4 Jul 2031, 11:30 CEST)" in listing
    this_year = re.compile(r"every 1h \(next \w{3} \d{1,2} \w{3}, \d\d:\d\d CES?T\)")
    assert this_year.search(listing), listing
    assert (await run(sock, room, f"/heartbeat @{handle} 2h"))["ok"]
    beats = (await run(sock, room, "/heartbeat"))["content"]
    assert re.search(r"every 2h \(next \w{3} \d{1,2} \w{3}, \d\d:\d\d CES?T\)", beats), beats


def cron_scheduler(shoal: Shoal, clock: Clock) -> Scheduler:
    """A scheduler of cron jobs alone, on the test's clock."""
    scheduler = Scheduler(shoal.db, shoal.settings, clock=clock)
    kind = CronKind(shoal.db, shoal.chat, shoal.scheduler, shoal.worker.wake)
    scheduler.handle("cron", advance=kind.advance, fire=kind.fire)
    return scheduler


async def _turn(shoal_server: ShoalServer, job_id: str, count: int = 1) -> list[Activation]:
    """Wait until `count` turns of the job are done; returns them oldest first."""
    async with asyncio.timeout(20):
        while True:
            async with shoal_server.shoal.db.read() as session:
                rows = list(await session.scalars(select(Activation).where(
                    Activation.trigger_kind == "cron").order_by(Activation.created_at)))
            mine = [r for r in rows if (r.payload or {}).get("cron_job_id") == job_id]
            if len(mine) >= count and all(r.status == "done" for r in mine):
                return mine
            await asyncio.sleep(0.05)


async def test_a_turn_is_an_isolated_session_delivered_to_the_room(
        shoal_server: ShoalServer, house: PeopleHouse, fake: FakeLLMServer,  # noqa: F811
        builtin_worker: None) -> None:
    _, handle = await add_bot(shoal_server, house, "digest", model={"primary": FAKE_MODEL})
    await house.member.post(f"/api/agencies/{house.room_id}/messages",
                            {"content": "a secret earlier in the room"})
    sock = await house.admin.socket()
    await sock.join(house.room_id)
    added = await run(sock, house.room_id, f"/cron add @{handle} --every 1h Write the digest")
    fake.script(Reply("Digest: all quiet."))
    ran = await run(sock, house.room_id, f"/cron run-now {added['metadata']['cron']['short_id']}")
    assert ran["ok"], ran
    [turn] = await _turn(shoal_server, added["metadata"]["cron"]["id"])
    assert turn.outcome == "replied"
    sent = json.dumps(fake.requests[-1].body)
    assert "Write the digest" in sent and "a secret earlier" not in sent
    replies = [m for m in sock.received("message") if m["content"] == "Digest: all quiet."]
    assert replies and replies[0]["metadata"]["cron"]["id"] == added["metadata"]["cron"]["id"]


async def test_a_silent_job_keeps_its_answer_out_of_the_room(
        shoal_server: ShoalServer, house: PeopleHouse, fake: FakeLLMServer,  # noqa: F811
        builtin_worker: None) -> None:
    _, handle = await add_bot(shoal_server, house, "digest", model={"primary": FAKE_MODEL})
    sock = await house.admin.socket()
    added = await run(sock, house.room_id,
                      f"/cron add @{handle} --every 1h --silent --history Tally the day")
    await sock.join(house.room_id)
    fake.script(Reply("Tally: 3 deploys."))
    await run(sock, house.room_id, f"/cron run-now {added['metadata']['cron']['short_id']}")
    [turn] = await _turn(shoal_server, added["metadata"]["cron"]["id"])
    assert turn.outcome == "replied" and turn.payload["output"] == "Tally: 3 deploys."
    assert turn.reply_message_id is None
    assert not [m for m in sock.received("message") if "Tally" in m["content"]]
    async with asyncio.timeout(10):  # the job records the outcome just after the turn's row
        while (view := (await house.admin.get(
                f"/api/houses/{house.id}/cron-jobs")).json()[0])["last_outcome"] is None:
            await asyncio.sleep(0.05)
    assert view["last_outcome"] == "replied" and view["last_run_at"]


async def test_three_failed_runs_in_a_row_disable_the_job_and_say_so(
        shoal_server: ShoalServer, house: PeopleHouse, fake: FakeLLMServer,  # noqa: F811
        builtin_worker: None) -> None:
    _, handle = await add_bot(shoal_server, house, "digest", model={"primary": FAKE_MODEL})
    sock = await house.admin.socket()
    await sock.join(house.room_id)
    added = await run(sock, house.room_id, f"/cron add @{handle} --every 1h Flaky work")
    job = added["metadata"]["cron"]
    for attempt in range(1, 4):
        fake.script(Fault.http(400))
        ack = await run(sock, house.room_id, f"/cron run-now {job['short_id']}")
        assert ack["ok"], ack
        turns = await _turn(shoal_server, job["id"], attempt)
        assert turns[-1].outcome == "error"
    async with asyncio.timeout(10):  # the job is turned off just after its turn is recorded
        while not (notices := [m for m in sock.received("message")
                               if "is disabled after 3 failed runs in a row" in m["content"]]):
            await sock.wait_for("message", len(sock.received("message")) + 1)
    r = await house.admin.get(f"/api/houses/{house.id}/cron-jobs")
    [view] = r.json()
    assert view["enabled"] is False and view["consecutive_errors"] == 3
    assert view["next_run_at"] is None
    assert len(notices) == 1 and f"/cron enable {job['short_id']}" in notices[0]["content"]


async def test_a_one_shot_runs_once_then_turns_itself_off(
        shoal_server: ShoalServer, house: PeopleHouse, builtin_worker: None) -> None:
    shoal = shoal_server.shoal
    bot_id, _ = await add_bot(shoal_server, house, "remind")
    clock = Clock(shoal.scheduler.clock())
    scheduler = cron_scheduler(shoal, clock)
    async with shoal.db.write() as session:
        job = await create_job(session, house_id=house.id, room_id=house.room_id,
                               bot_id=bot_id, when=When(at="10m"), prompt="Say standup time",
                               deliver=True, with_history=False, created_by=house.admin.id,
                               now=clock.now)
    clock.advance(minutes=9)
    await scheduler.run_due()
    async with shoal.db.read() as session:
        assert not [a for a in await session.scalars(select(Activation).where(
            Activation.trigger_kind == "cron")) if a.payload.get("cron_job_id") == job.id]
    clock.advance(minutes=30)  # late by twenty minutes: still exactly one run
    await scheduler.run_due()
    await scheduler.run_due()
    [turn] = await _turn(shoal_server, job.id)
    assert turn.outcome == "replied"
    async with asyncio.timeout(10):
        while True:
            async with shoal.db.read() as session:
                stored = await session.get(CronJob, job.id)
                assert stored is not None
                if stored.last_outcome is not None:
                    break
            await asyncio.sleep(0.05)
    assert stored.enabled is False


async def test_downtime_runs_a_missed_cron_job_once(shoal_server: ShoalServer,
                                                    house: PeopleHouse) -> None:
    shoal = shoal_server.shoal
    bot_id, _ = await add_bot(shoal_server, house, "digest")
    clock = Clock(datetime(2031, 3, 28, 12, tzinfo=UTC))  # the Saturday before Berlin's DST
    scheduler = cron_scheduler(shoal, clock)
    async with shoal.db.write() as session:
        job = await create_job(session, house_id=house.id, room_id=house.room_id,
                               bot_id=bot_id, when=When(expression="0 9 * * *",
                                                        timezone="Europe/Berlin"),
                               prompt="Digest", deliver=False, with_history=False,
                               created_by=house.admin.id, now=clock.now)
    try:
        clock.now = datetime(2031, 3, 31, 12, tzinfo=UTC)  # three 09:00s missed while down
        await scheduler.run_due()
        await scheduler.run_due()
        async with shoal.db.read() as session:
            turns = [a for a in await session.scalars(select(Activation).where(
                Activation.trigger_kind == "cron")) if a.payload.get("cron_job_id") == job.id]
            [view] = [v for v in (await house.admin.get(
                f"/api/houses/{house.id}/cron-jobs")).json() if v["id"] == job.id]
        assert len(turns) == 1
        # Next: 09:00 in Berlin on 1 April, summer time (UTC+2).
        assert view["next_run_at"] == "2031-04-01T07:00:00.000Z"
    finally:
        async with shoal.db.write() as session:
            await session.delete(await session.get(CronJob, job.id))


async def test_schedules_that_cannot_run_are_refused_with_a_reason(
        shoal_server: ShoalServer, house: PeopleHouse) -> None:
    _, handle = await add_bot(shoal_server, house, "digest")
    for when, error in [
        ({"at": "9999999d"}, "too far ahead: a one-shot runs within ten years"),
        ({"at": "9999-12-31T23:00-05:00"}, "too far ahead"),
        ({"at": "9999-12-31T23:00", "tz": NY}, "too far ahead"),
        ({"at": "2099-01-01T00:00"}, "too far ahead"),
        ({"at": "0001-01-01T00:00+05:00"}, "in the past"),
        ({"cron": "0 0 30 2 *"}, "never comes round"),
        ({"cron": "0 0 31 4,6 *"}, "never comes round"),
        ({"every": "9999999d"}, "too long: the maximum is 366d"),
        ({"every": "99999999d"}, "is not an interval"),
    ]:
        r = await house.admin.post(f"/api/agencies/{house.room_id}/cron-jobs",
                                   {"agent": f"@{handle}", "prompt": "Hi", **when})
        assert r.status_code == 400 and error in r.json()["error"], (when, r.text)
    sock = await house.admin.socket()
    for text, error in [
        (f"/cron add @{handle} --at 9999999d Hi", "too far ahead"),
        (f"/cron add @{handle} --at 9999-12-31T23:00-05:00 Hi", "too far ahead"),
        (f'/cron add @{handle} "0 0 30 2 *" Hi', "never comes round"),
        (f"/cron add @{handle} --every 9999999d Hi", "too long"),
    ]:
        ack = await run(sock, house.room_id, text)
        assert ack["ok"] is False and error in ack["error"], (text, ack)
    assert (await house.admin.get(f"/api/houses/{house.id}/cron-jobs")).json() == []


async def _job_view(house: PeopleHouse, job_id: str, outcome: str) -> dict[str, Any]:
    """The job as the API lists it, once its last run has the outcome."""
    async with asyncio.timeout(10):  # the job records the outcome just after the turn's row
        while True:
            r = await house.admin.get(f"/api/houses/{house.id}/cron-jobs")
            [view] = [v for v in r.json() if v["id"] == job_id]
            if view["last_outcome"] == outcome:
                return view  # type: ignore[no-any-return]
            await asyncio.sleep(0.05)


async def _message(sock: Socket, content: str) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while not (found := [m for m in sock.received("message") if m["content"] == content]):
            await sock.wait_for("message", len(sock.received("message")) + 1)
    [message] = found
    return message  # type: ignore[no-any-return]


async def test_running_an_sdk_agents_job_now_prompts_it_like_its_schedule(
        shoal_server: ShoalServer, house: PeopleHouse) -> None:
    # An SDK agent runs in its own process and hears messages only: its turn is a message
    # that mentions it, and the delivery of that message is the job's run. This agent has no
    # socket in the room, so the run waits for it to join.
    _, handle = await add_bot(shoal_server, house, "listener", runtime="sdk")
    sock = await house.admin.socket()
    await sock.join(house.room_id)
    once = (await run(sock, house.room_id,
                      f"/cron add @{handle} --at 2h Post the standup notes"))["metadata"]["cron"]
    ran = await run(sock, house.room_id, f"/cron run-now {once['short_id']}")
    assert ran["ok"], ran
    prompt = await _message(sock, f"@{handle} Post the standup notes")
    assert prompt["metadata"]["cron"]["id"] == once["id"]
    view = await _job_view(house, once["id"], "waiting")
    assert view["enabled"] is False and view["next_run_at"] is None  # a one-shot runs once

    hourly = (await run(sock, house.room_id,
                        f"/cron add @{handle} --every 1h Tally the queue"))["metadata"]["cron"]
    r = await house.admin.post(f"/api/cron-jobs/{hourly['id']}/run")
    assert r.status_code == 202, r.text
    await _message(sock, f"@{handle} Tally the queue")
    view = await _job_view(house, hourly["id"], "waiting")
    assert view["enabled"] is True and view["last_run_at"]


async def test_a_scheduled_run_of_an_sdk_agent_is_recorded_as_the_jobs_run(
        shoal_server: ShoalServer, house: PeopleHouse) -> None:
    shoal = shoal_server.shoal
    bot_id, handle = await add_bot(shoal_server, house, "listener", runtime="sdk")
    other_id, other = await add_bot(shoal_server, house, "helper")
    clock = Clock(shoal.scheduler.clock())
    scheduler = cron_scheduler(shoal, clock)
    async with shoal.db.write() as session:
        job = await create_job(session, house_id=house.id, room_id=house.room_id,
                               bot_id=bot_id, when=When(at="10m"),
                               prompt=f"Ask @{other} for the numbers", deliver=True,
                               with_history=False, created_by=house.admin.id, now=clock.now)
    watcher = await house.member.socket()
    await watcher.join(house.room_id)
    clock.advance(minutes=11)
    await scheduler.run_due()
    prompt = await _message(watcher, f"@{handle} Ask @{other} for the numbers")
    view = await _job_view(house, job.id, "waiting")  # no socket of the agent in the room
    assert view["enabled"] is False and view["consecutive_errors"] == 0
    async with shoal.db.read() as session:
        woken = {a.bot_id: a for a in await session.scalars(select(Activation).where(
            Activation.trigger_message_id == prompt["id"]))}
    # The job's run is its agent's; a schedule wakes only the agent it is for, not another
    # agent its prompt names.
    assert woken[bot_id].payload == {"cron_job_id": job.id}
    assert other_id not in woken
