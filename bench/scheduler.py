"""Scheduler benchmark: 10,000 heartbeats due over the next minute, how late each fires.

A Shoal process in the `scheduler` role (no HTTP, no worker) holds 10,000 heartbeats of SDK
agents spread evenly over the next `--spread` seconds. Lateness is the time from a beat's due
time to the commit of the message it posts (dispatch included). The baseline is the same due
times as plain asyncio timers in the same process: what an ideal in-memory timer achieves.
It also prints the process's CPU per beat, which decides how late beats get on a busy
machine: lateness stays low only while the process gets the share of a core the rate needs.
Then, with every beat an hour away, the process's CPU while idle.

    python bench/scheduler.py [--beats 10000] [--spread 60] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, insert, select

from shoal.auth.accounts import create_bot, create_person
from shoal.config import Settings
from shoal.core import Shoal
from shoal.rooms.houses import add_house_member, create_house
from shoal.rooms.rooms import create_room
from shoal.scheduler.tables import Heartbeat, Schedule
from shoal.store.tables import Message, utcnow

ROOMS = 100  # beats are spread over rooms x bots, one per pair


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def report(name: str, lateness_ms: list[float]) -> tuple[float, float, float]:
    p50, p99 = percentile(lateness_ms, 0.50), percentile(lateness_ms, 0.99)
    worst = max(lateness_ms)
    print(f"{name:<34} p50 {p50:8.1f} ms   p99 {p99:8.1f} ms   max {worst:8.1f} ms")
    return p50, p99, worst


async def baseline(offsets: list[float]) -> list[float]:
    """Plain asyncio timers at the same offsets: lateness in ms."""
    loop = asyncio.get_running_loop()
    start = loop.time() + 1.0
    late: list[float] = []
    done = asyncio.Event()

    def fire(due: float) -> None:
        late.append((loop.time() - due) * 1000)
        if len(late) == len(offsets):
            done.set()

    for offset in offsets:
        loop.call_at(start + offset, fire, start + offset)
    await done.wait()
    return late


async def setup(shoal: Shoal, beats: int, offsets: list[float]) -> dict[str, float]:
    """Rooms, SDK bots and one heartbeat per (room, bot); returns due epoch time per beat."""
    bots_needed = -(-beats // ROOMS)
    async with shoal.db.write() as session:
        person = await create_person(session, "operator", "not-used-here", "Operator")
        house = await create_house(session, "Bench", person)
        rooms = [await create_room(session, house.id, f"room-{i}", person.id)
                 for i in range(ROOMS)]
        bots = []
        for i in range(bots_needed):
            bot = await create_bot(session, f"Beat {i:03d}", person.id, verified=True)
            bot.config = {"runtime": "sdk"}
            await add_house_member(session, house.id, bot, "member")
            bots.append(bot.id)
    now = utcnow()
    due: dict[str, float] = {}
    heartbeats, schedules = [], []
    for index, offset in enumerate(offsets):
        room, bot = rooms[index % ROOMS], bots[index // ROOMS]
        beat_id = f"beat-{index:06d}"
        when = now + timedelta(seconds=5 + offset)
        due[beat_id] = when.timestamp()
        heartbeats.append({"id": beat_id, "house_id": house.id, "room_id": room.id,
                           "bot_id": bot, "interval_seconds": 3600, "prompt": "check in",
                           "enabled": True, "created_at": now, "updated_at": now})
        schedules.append({"id": f"sched-{index:06d}", "kind": "heartbeat",
                          "target_id": beat_id, "due_at": when, "created_at": now})
    async with shoal.db.write() as session:
        for chunk in range(0, len(heartbeats), 1000):
            await session.execute(insert(Heartbeat), heartbeats[chunk:chunk + 1000])
            await session.execute(insert(Schedule), schedules[chunk:chunk + 1000])
    return due


async def fired_lateness(shoal: Shoal, due: dict[str, float], timeout: float) -> list[float]:
    """Wait until every beat posted; lateness (ms) of each message's commit after its due."""
    deadline = time.monotonic() + timeout
    system_posts = select(func.count()).select_from(Message).where(Message.sender_id.is_(None))
    while time.monotonic() < deadline:
        # A count is cheap: reading every message while beats fire would slow the scheduler
        # it measures, which shares this process.
        async with shoal.db.read() as session:
            if await session.scalar(system_posts) >= len(due):
                break
        await asyncio.sleep(1.0)
    async with shoal.db.read() as session:
        rows = (await session.execute(
            select(Message.meta, Message.created_at).where(Message.sender_id.is_(None)))).all()
    posted = {m.get("heartbeat_id"): at.timestamp() for m, at in rows
              if m.get("heartbeat_id") in due}
    if len(posted) < len(due):
        print(f"{len(due) - len(posted)} beats did not fire within the timeout")
    return [(at - due[beat]) * 1000 for beat, at in posted.items()]


async def claim_lateness(shoal: Shoal, due: dict[str, float]) -> list[float]:
    """How late each beat was claimed (its heartbeat's `last_fired_at`), in ms."""
    async with shoal.db.read() as session:
        rows = (await session.execute(select(Heartbeat.id, Heartbeat.last_fired_at))).all()
    return [(at.timestamp() - due[beat]) * 1000 for beat, at in rows if at and beat in due]


async def idle_cpu(seconds: float) -> float:
    """The process's CPU use over a quiet stretch, as a share of one core."""
    used, wall = time.process_time(), time.monotonic()
    await asyncio.sleep(seconds)
    return (time.process_time() - used) / (time.monotonic() - wall)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--beats", type=int, default=10_000)
    parser.add_argument("--spread", type=float, default=60.0, help="seconds the beats span")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle to measure")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    offsets = [args.spread * i / args.beats for i in range(args.beats)]

    print(f"{args.beats} heartbeats due over {args.spread:.0f} s")
    base = report("baseline: asyncio timers", await baseline(offsets))
    base_cpu = await idle_cpu(args.idle)

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), database_url=args.database_url, role="scheduler",
                            secret="bench", log_level="warning")
        shoal = Shoal(settings)
        await shoal.start()
        try:
            due = await setup(shoal, args.beats, offsets)
            used = time.process_time()
            shoal.scheduler.wake()
            late = await fired_lateness(shoal, due, timeout=args.spread + 120)
            used = time.process_time() - used
            report("shoal scheduler (to claim)", await claim_lateness(shoal, due))
            ours = report("shoal scheduler (to message commit)", late)
            cpu = await idle_cpu(args.idle)
        finally:
            await shoal.stop()
    per_beat = used / args.beats
    print(f"CPU per beat (claim, post, dispatch, commit): {per_beat * 1000:.2f} ms, so "
          f"{args.beats / args.spread:.0f} beats/s need {per_beat * args.beats / args.spread:.0%} "
          f"of a core; past what the machine gives the process, beats queue and lateness grows")
    print(f"p99 lateness vs baseline: +{ours[1] - base[1]:.1f} ms "
          f"(target: p99 under 1000 ms) {'met' if ours[1] < 1000 else 'NOT met'}")
    print(f"idle CPU: shoal scheduler process {cpu * 100:.2f}% of a core, "
          f"bare event loop {base_cpu * 100:.2f}% (target: under 2%) "
          f"{'met' if cpu < 0.02 else 'NOT met'}")


if __name__ == "__main__":
    asyncio.run(main())
