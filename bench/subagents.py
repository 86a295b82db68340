"""Sub-agents benchmark: 20 builtin parents on the offline model spawn 200 children in all.

Each parent is mentioned with `/sessions_spawn <task>` (the offline model calls the tool when
a message names it); each child answers its task, and its end comes back to its parent as a
follow-up turn. Prints spawn-to-start and end-to-announce latency (p50/p99), throughput, and
counts lost or duplicated announcements (both must be 0). The baseline, measured first in the
same process: the same number of plain mentions, commit to activation start.

    python bench/subagents.py [--parents 20] [--spawns 200] [--lane 4]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import select

from shoal.auth.accounts import create_bot, create_person
from shoal.config import Settings
from shoal.core import Shoal
from shoal.rooms.houses import add_house_member, create_house
from shoal.rooms.rooms import create_room, join_room
from shoal.store.tables import Activation, Message, User
from shoal.subagents.lifecycle import RESULT
from shoal.subagents.tables import Subagent


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


async def setup(shoal: Shoal, name: str, parents: int, lane: int
                ) -> tuple[str, User, list[tuple[str, str]]]:
    async with shoal.db.write() as session:
        person = await create_person(session, f"poster-{name}", "not-used-here", "Poster")
        house = await create_house(session, f"Bench {name}", person)
        room = await create_room(session, house.id, name, person.id)
        bots = []
        for i in range(parents):
            bot = await create_bot(session, f"{name} {i:02d}", person.id, verified=True)
            bot.config = {"runtime": "builtin", "model": {"primary": "offline", "fallbacks": []},
                          "subagents": {"max_concurrent": lane}}
            member = await add_house_member(session, house.id, bot, "member")
            await join_room(session, room.id, bot.id)
            bots.append((bot.id, member.handle))
    return room.id, person, bots


async def post_all(shoal: Shoal, room_id: str, person: User, bots: list[tuple[str, str]],
                   count: int, text: str) -> float:
    """Post `count` mentions round-robin over the bots and wait until all work is done."""
    started = time.perf_counter()
    for i in range(count):
        _, handle = bots[i % len(bots)]
        await shoal.chat.post(person, room_id, f"@{handle} {text} {i}")
    await shoal.worker.drain(timeout=900)
    return time.perf_counter() - started


async def baseline(shoal: Shoal, args: argparse.Namespace) -> float:
    room_id, person, bots = await setup(shoal, "plain", args.parents, args.lane)
    elapsed = await post_all(shoal, room_id, person, bots, args.spawns, "status of job")
    async with shoal.db.read() as session:
        rows = (await session.execute(select(Activation.started_at, Activation.created_at)
                                      .where(Activation.room_id == room_id))).all()
    waits = [(s - c).total_seconds() * 1000 for s, c in rows if s]
    rate = len(rows) / elapsed * 60
    print(f"baseline, plain mentions: {len(rows)} activations; commit -> start p50 "
          f"{percentile(waits, 0.5):.1f} ms, p99 {percentile(waits, 0.99):.1f} ms; "
          f"{rate:,.0f} activations/minute")
    return rate


async def spawning(shoal: Shoal, args: argparse.Namespace, plain_rate: float) -> None:
    room_id, person, bots = await setup(shoal, "spawn", args.parents, args.lane)
    elapsed = await post_all(shoal, room_id, person, bots, args.spawns,
                             "/sessions_spawn count the items of batch")
    async with shoal.db.read() as session:
        kids = list((await session.scalars(select(Subagent).where(
            Subagent.room_id == room_id))).all())
        follow_ups = list((await session.scalars(select(Activation).where(
            Activation.room_id == room_id, Activation.trigger_kind == RESULT))).all())
        replies = Counter((await session.scalars(select(Message.activation_id).where(
            Message.room_id == room_id, Message.activation_id.in_(
                [a.id for a in follow_ups])))).all())
    by_child = Counter(a.payload.get("subagent_id") for a in follow_ups)
    lost = sum(1 for k in kids if by_child[k.id] == 0)
    duplicated = sum(n - 1 for n in by_child.values() if n > 1)
    unanswered = sum(1 for a in follow_ups if a.outcome != "skipped" and replies[a.id] != 1)
    started = {a.id: a.started_at for a in follow_ups}
    to_start = [(k.started_at - k.created_at).total_seconds() * 1000
                for k in kids if k.started_at]
    to_announce = [(started[k.announced_activation_id] - k.ended_at).total_seconds() * 1000
                   for k in kids if k.ended_at and started.get(k.announced_activation_id or "")]
    states = Counter(k.state for k in kids)
    rate = len(kids) / elapsed * 60
    print(f"sub-agents: {len(kids)} spawned by {args.parents} parents (lane {args.lane} each), "
          f"states {dict(states)}")
    print(f"spawn -> child start: p50 {percentile(to_start, 0.5):.1f} ms, "
          f"p99 {percentile(to_start, 0.99):.1f} ms (the lane makes children wait in order)")
    print(f"child end -> parent hears it: p50 {percentile(to_announce, 0.5):.1f} ms, "
          f"p99 {percentile(to_announce, 0.99):.1f} ms")
    print(f"announcements: {len(follow_ups)} for {len(kids)} children; lost {lost}, "
          f"duplicated {duplicated}, follow-ups without exactly one reply {unanswered}")
    print(f"throughput: {rate:,.0f} spawn round trips/minute, each three activations (parent "
          f"turn, child, parent follow-up): {rate * 3:,.0f} activations/minute against "
          f"{plain_rate:,.0f} plain (ratio {rate * 3 / plain_rate:.2f}); {elapsed:.1f} s in all")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parents", type=int, default=20)
    parser.add_argument("--spawns", type=int, default=200)
    parser.add_argument("--lane", type=int, default=4, help="subagents.max_concurrent")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        shoal = Shoal(Settings(data_dir=Path(data_dir), secret="bench", worker_concurrency=16,
                               subagent_house_concurrency=64))
        await shoal.start()
        try:
            print(f"sub-agents: {args.spawns} spawns from {args.parents} parents "
                  "(SQLite, offline model)")
            plain = await baseline(shoal, args)
            await spawning(shoal, args, plain)
        finally:
            await shoal.stop()


if __name__ == "__main__":
    asyncio.run(main())
