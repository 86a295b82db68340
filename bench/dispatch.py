"""Dispatch benchmark: a house with 50 builtin bots on the offline model, 5 mentioned per message.

Prints the latency from a message's commit to the start of each activation it caused (p50/p99),
sustained activations per minute, and checks that every activation replied exactly once. Also
times building the system prompt and the context from 50 messages, against a baseline of
copying the same 50 message dicts.

    python bench/dispatch.py [--bots 50] [--messages 200] [--rate 5]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from shoal.agents.config import load_config
from shoal.auth.accounts import create_bot, create_person
from shoal.config import Settings
from shoal.core import Shoal
from shoal.rooms.houses import add_house_member, create_house
from shoal.rooms.messages import history
from shoal.rooms.rooms import create_room, join_room
from shoal.runtime.context import message_turn
from shoal.runtime.prompt import build_system_prompt
from shoal.store.tables import Activation, House, Message, Room, User


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


async def setup(shoal: Shoal, bots: int) -> tuple[str, object, list[str]]:
    async with shoal.db.write() as session:
        person = await create_person(session, "poster", "not-used-here", "Poster")
        house = await create_house(session, "Bench", person)
        room = await create_room(session, house.id, "bench", person.id)
        handles = []
        for i in range(bots):
            bot = await create_bot(session, f"Bot {i:02d}", person.id, verified=True)
            bot.config = {"runtime": "builtin", "model": {"primary": "offline", "fallbacks": []},
                          "description": "a benchmark bot"}
            member = await add_house_member(session, house.id, bot, "member")
            await join_room(session, room.id, bot.id)
            handles.append(member.handle)
    return room.id, person, handles


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bots", type=int, default=50)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--rate", type=float, default=5.0, help="messages per second")
    parser.add_argument("--mentioned", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        shoal = Shoal(Settings(data_dir=Path(data_dir), secret="bench"))
        await shoal.start()
        try:
            room_id, person, handles = await setup(shoal, args.bots)
            print(f"dispatch: {args.bots} bots, {args.messages} messages at {args.rate:.0f}/s, "
                  f"{args.mentioned} mentioned each (SQLite, offline model)")
            started = time.perf_counter()
            for i in range(args.messages):
                delay = started + i / args.rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                named = [handles[(i * args.mentioned + k) % len(handles)]
                         for k in range(args.mentioned)]
                text = " ".join(f"@{h}" for h in named) + f" status of job {i}?"
                await shoal.chat.post(person, room_id, text)  # type: ignore[arg-type]
            await shoal.worker.drain(timeout=600)
            elapsed = time.perf_counter() - started
            await report(shoal, args, elapsed)
            await time_prompt_building(shoal, room_id)
        finally:
            await shoal.stop()


async def report(shoal: Shoal, args: argparse.Namespace, elapsed: float) -> None:
    async with shoal.db.read() as session:
        rows = (await session.execute(
            select(Activation.started_at, Activation.created_at, Activation.outcome,
                   Activation.finished_at))).all()
        replies = await session.scalar(
            select(func.count()).select_from(Message).where(Message.activation_id.is_not(None)))
        distinct = await session.scalar(
            select(func.count(func.distinct(Message.activation_id))))
    latencies = [(s - c).total_seconds() * 1000 for s, c, _, _ in rows if s]
    outcomes = {o: sum(1 for *_, oc, _ in rows if oc == o) for o in {r[2] for r in rows}}
    first, last = min(c for _, c, _, _ in rows), max(f for *_, f in rows if f)
    per_minute = len(rows) / (last - first).total_seconds() * 60
    expected = args.messages * args.mentioned
    print(f"activations: {len(rows)} (expected {expected}), outcomes {outcomes}")
    print(f"replies: {replies} for {distinct} distinct activations "
          f"({'no' if replies == distinct else 'SOME'} duplicates, "
          f"{expected - distinct} lost)")
    print(f"commit -> activation start: p50 {percentile(latencies, 0.5):.1f} ms, "
          f"p99 {percentile(latencies, 0.99):.1f} ms (target p99 < 25 ms)")
    print(f"sustained: {per_minute:,.0f} activations/minute over {elapsed:.1f} s "
          f"(target >= 1,000 on SQLite)")


async def time_prompt_building(shoal: Shoal, room_id: str) -> None:
    async with shoal.db.read() as session:
        room = await session.get(Room, room_id)
        assert room is not None
        views = list(reversed(await history(session, room, limit=50)))
        house = await session.get(House, room.house_id)
        bot = await session.scalar(select(User).where(User.kind == "bot").limit(1))
    assert house is not None and bot is not None
    config = load_config(bot.config)
    rounds = 2000
    t0 = time.perf_counter()
    for _ in range(rounds):
        build_system_prompt(house, bot, config, [], room=room, model="offline")
        [message_turn(v, bot.id) for v in views if not v["deleted"]]
    building = (time.perf_counter() - t0) / rounds * 1000
    t0 = time.perf_counter()
    for _ in range(rounds):
        copy.deepcopy(views)
    baseline = (time.perf_counter() - t0) / rounds * 1000
    print(f"prompt + context from {len(views)} messages: {building:.3f} ms per activation "
          f"(target < 2 ms); deep-copying the same messages: {baseline:.3f} ms "
          f"(ratio {building / baseline:.2f})")


if __name__ == "__main__":
    asyncio.run(main())
