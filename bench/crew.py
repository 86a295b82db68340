"""Crew benchmark: CREW_UPDATE and the lead's heartbeat for crews of 50 agents with 500 tasks
and a busy activity feed, beside plain heartbeats.

Each crew has a lead (idle, so its heartbeat nudges it), 9 architects and a secretary at work
(the receivers: the lead is idle), and 39 developers and reviewers; 500 tasks on its board,
50 locks and `--feed` activity rows of every kind. Printed:

1. The time to build one CREW_UPDATE (status and filtered feed, read and formatted) and a full
   refresh round (every receiver at work gets one in its session), beside firing one plain
   heartbeat (its prompt posted in the room: the baseline).
2. The scheduler's lateness, due time to claim, in one scheduler process: `--crews` plain
   heartbeats due over `--spread` seconds (the baseline), then the crews' refreshes (each
   claim's round firing while the next are claimed), then their leads' nudges.

    python bench/crew.py [--crews 10] [--feed 5000] [--repeat 30] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select

from shoal.auth.accounts import create_bot, create_person
from shoal.config import Settings
from shoal.core import Shoal
from shoal.crew import heartbeat, refresh
from shoal.crew.status import crew_status
from shoal.crew.tables import Crew, CrewActivity, CrewLock, CrewMember, CrewTask
from shoal.crew.update import crew_update
from shoal.ids import new_id
from shoal.rooms.houses import add_house_member, create_house
from shoal.rooms.rooms import create_room
from shoal.runtime.session_tables import SessionTurn
from shoal.scheduler.service import Fired, set_due
from shoal.scheduler.tables import Heartbeat, Schedule
from shoal.schedules.heartbeats import HeartbeatKind
from shoal.store.tables import Activation, User, utcnow

AGENTS = 50
TASKS = 500
ROLES = ["lead"] + ["architect"] * 9 + ["secretary"] + ["developer", "code-reviewer"] * 19 + [
    "developer"]
KINDS = [("file_edit", {}), ("message_to_lead", {}), ("report", {"kind": "completion"}),
         ("report", {"kind": "progress"}), ("status_change", {}), ("error", {}), ("dm", {}),
         ("group_message", {}), ("lock_acquired", {}), ("lock_denied", {}),
         ("task_updated", {}), ("task_created", {})]
TASK_STATES = ["todo", "in_progress", "blocked", "done"]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def lateness(name: str, values: list[float]) -> float:
    p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
    print(f"  {name:<28} p50 {p50:8.1f} ms   p99 {p99:8.1f} ms   max {max(values):8.1f} ms"
          f"   ({len(values)} fired)")
    return p99


async def make_crew(shoal: Shoal, person: User, index: int, feed: int, due: datetime
                    ) -> tuple[str, str]:
    """One crew of 50 agents in its own room, its board, locks and feed, and a heartbeat of
    an SDK agent in the same room due at the same time; returns (crew id, heartbeat id)."""
    long_ago = utcnow() - timedelta(hours=1)
    async with shoal.db.write() as session:
        house = await create_house(session, f"Crew house {index}", person)
        room = await create_room(session, house.id, f"crew-{index}", person.id)
        bots = []
        for i in range(AGENTS):
            bot = await create_bot(session, f"c{index} agent {i:02d}", person.id, verified=True)
            bot.config = {"runtime": "sdk"}
            await add_house_member(session, house.id, bot, "member")
            bots.append(bot.id)
        crew = Crew(house_id=house.id, room_id=room.id, goal="Ship it", lead_bot_id=bots[0],
                    created_at=long_ago, updated_at=long_ago)
        session.add(crew)
        await session.flush()
        await session.execute(insert(CrewMember), [
            {"id": new_id(), "crew_id": crew.id, "bot_id": bot, "role": role,
             "joined_at": long_ago} for bot, role in zip(bots, ROLES, strict=True)])
        await session.execute(insert(CrewTask), [
            {"id": new_id(), "crew_id": crew.id, "title": f"Task {t}",
             "status": TASK_STATES[t % 4], "assignee_id": bots[t % AGENTS],
             "created_at": long_ago, "updated_at": long_ago + timedelta(seconds=t)}
            for t in range(TASKS)])
        await session.execute(insert(CrewLock), [
            {"id": new_id(), "crew_id": crew.id, "resource": f"src/file_{i}.py",
             "holder_id": bots[i], "acquired_at": long_ago} for i in range(AGENTS)])
        await session.execute(insert(CrewActivity), [
            {"id": new_id(), "crew_id": crew.id, "actor_id": bots[1 + a % (AGENTS - 1)],
             "kind": KINDS[a % len(KINDS)][0], "summary": f"Activity {a}",
             "data": KINDS[a % len(KINDS)][1], "at": long_ago + timedelta(milliseconds=a)}
            for a in range(feed)])
        # The architects and the secretary are at work; the lead is idle.
        await session.execute(insert(Activation), [
            {"id": new_id(), "bot_id": bot, "house_id": house.id, "room_id": room.id,
             "trigger_kind": "direct", "status": "pending", "payload": {},
             "available_at": long_ago + timedelta(days=365), "created_at": long_ago}
            for bot in bots[1:11]])
        beat = Heartbeat(house_id=house.id, room_id=room.id, bot_id=bots[-1],
                         interval_seconds=3600, prompt="check in", created_at=long_ago,
                         updated_at=long_ago)
        session.add(beat)
        await session.flush()
        for kind, target in ((refresh.KIND, crew.id), (heartbeat.KIND, crew.id),
                             ("heartbeat", beat.id)):
            session.add(Schedule(kind=kind, target_id=target, due_at=due, created_at=long_ago))
        return crew.id, beat.id


async def timed(repeat: int, action: object) -> list[float]:
    """Milliseconds per call of an async callable."""
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        await action()  # type: ignore[operator]
        out.append((time.perf_counter() - started) * 1000)
    return out


async def build_once(shoal: Shoal, crew_id: str) -> str:
    async with shoal.db.read() as session:
        crew = await session.get(Crew, crew_id)
        assert crew is not None
        return await crew_update(session, await crew_status(session, crew), "lead")


async def claimed(shoal: Shoal, due: dict[tuple[str, str], datetime], timeout: float
                  ) -> dict[str, list[float]]:
    """Wait until every row was claimed; each kind's lateness (ms) from due to claim."""
    deadline = time.monotonic() + timeout
    while True:
        async with shoal.db.read() as session:
            rows = (await session.execute(select(Schedule.kind, Schedule.target_id,
                                                 Schedule.last_fired_at))).all()
        fired = {(k, t): at for k, t, at in rows if (k, t) in due and at is not None}
        if len(fired) == len(due) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    out: dict[str, list[float]] = {}
    for (kind, target), at in fired.items():
        out.setdefault(kind, []).append((at - due[(kind, target)]).total_seconds() * 1000)
    return out


async def settled(shoal: Shoal) -> None:
    """Wait until what fired has done its work: no session turn added for a second."""
    last = -1
    while True:
        async with shoal.db.read() as session:
            turns = await session.scalar(select(func.count()).select_from(SessionTurn)) or 0
        if turns == last:
            return
        last = turns
        await asyncio.sleep(1.0)


async def bring_due(shoal: Shoal, kind: str, targets: list[str], spread: float
                    ) -> dict[tuple[str, str], datetime]:
    """Make the kind's rows of these targets due over the next `spread` seconds."""
    soon = utcnow() + timedelta(seconds=1)
    due = {(kind, target): soon + timedelta(seconds=spread * i / len(targets))
           for i, target in enumerate(targets)}
    async with shoal.db.write() as session:
        for (_, target), at in due.items():
            await set_due(session, kind, target, at)
    shoal.scheduler.wake()
    return due


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crews", type=int, default=10)
    parser.add_argument("--feed", type=int, default=5000, help="activity rows per crew")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--spread", type=float, default=3.0,
                        help="seconds the crews' due times span")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), database_url=args.database_url,
                            role="scheduler", secret="bench", log_level="warning")
        shoal = Shoal(settings)
        await shoal.start()
        try:
            async with shoal.db.write() as session:
                person = await create_person(session, "operator", "not-used-here", "Op")
            start = utcnow() + timedelta(days=1)  # nothing due while measuring part 1
            made = [await make_crew(shoal, person, i, args.feed,
                                    start + timedelta(seconds=args.spread * i / args.crews))
                    for i in range(args.crews)]
            crew_id, beat_id = made[0]
            print(f"{args.crews} crews of {AGENTS} agents (10 receivers at work), {TASKS} tasks, "
                  f"{args.feed} activity rows each")

            block = await build_once(shoal, crew_id)
            build = await timed(args.repeat, lambda: build_once(shoal, crew_id))
            rounds = await timed(args.repeat, lambda: shoal.crew_refresh.refresh(crew_id))
            beats = HeartbeatKind(shoal.db, shoal.chat)
            one_beat = [Fired("heartbeat", beat_id, start, "bench")]
            plain = await timed(args.repeat, lambda: beats.fire(one_beat))
            base = statistics.median(plain)
            print(f"one CREW_UPDATE: {len(block.splitlines())} lines, {len(block)} characters")
            for name, values in (("build one CREW_UPDATE", build),
                                 ("full refresh round (10 pushes)", rounds),
                                 ("baseline: fire one heartbeat", plain)):
                median = statistics.median(values)
                print(f"  {name:<32} median {median:7.1f} ms   p90 "
                      f"{percentile(values, 0.9):7.1f} ms   x{median / base:5.2f} baseline")

            # Part 2: one kind at a time, every crew's row due over the next seconds.
            print("scheduler lateness, due to claim (one kind at a time):")
            p99 = {}
            for kind, name in (("heartbeat", "baseline: plain heartbeats"),
                               (refresh.KIND, "crew refreshes"),
                               (heartbeat.KIND, "lead nudges")):
                due = await bring_due(shoal, kind, [beat if kind == "heartbeat" else crew
                                                    for crew, beat in made], args.spread)
                p99[kind] = lateness(name, (await claimed(shoal, due, args.spread + 60))
                                     .get(kind, [0.0]))
                await settled(shoal)  # the next kind is not claimed beside this one's firing
            async with shoal.db.read() as session:
                nudged = len((await session.scalars(select(Activation.id).where(
                    Activation.trigger_kind == heartbeat.TRIGGER_KIND))).all())
            print(f"  nudges queued: {nudged} for {args.crews} idle leads; p99 vs baseline: "
                  f"refresh x{p99[refresh.KIND] / p99['heartbeat']:.2f}, "
                  f"nudge x{p99[heartbeat.KIND] / p99['heartbeat']:.2f}")
        finally:
            await shoal.stop()


if __name__ == "__main__":
    asyncio.run(main())
