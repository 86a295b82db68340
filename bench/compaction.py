"""What compaction adds to an activation.

A builtin bot on the fake provider (in-process, answering at once) with a 16,000-token window
answers in fresh rooms, alternately: a room whose session fits the window (the baseline: one
model call), and a room whose session crosses it (the memory flush, which saves one note with
`/save`, then the summary of the oldest turns, then the answer). Each activation is timed
from the runtime's start to its reply, on SQLite; prints p50 and p99 of both, the model calls
each made, and what compaction adds, in model calls and in ms. The fake model answers in no
time, so the ms are Shoal's own work (session reads and writes, the flush's note, the
summary turn, the records) and the loopback calls; with a real model add its latency per
extra call.

    .venv/bin/python bench/compaction.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from shoal.agents.config import load_config
from shoal.auth.accounts import create_bot, create_person
from shoal.config import Settings
from shoal.core import Shoal
from shoal.llm import Catalog, KeyRing, LLMConfig, ModelConfig, ModelRouter, ProviderConfig
from shoal.llm.fakeserver import FakeLLMServer, FakeToolCall, Reply
from shoal.rooms.houses import add_house_member, create_house
from shoal.rooms.rooms import create_room, join_room
from shoal.runtime.base import ActivationContext
from shoal.runtime.builtin import BuiltinRuntime
from shoal.store.tables import Activation, House, Room, User, utcnow

MODEL = "openai/fake-small"
WINDOW = 16_000
FILLER = "words " * 800  # about 1,200 tokens a message


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


class Bench:
    """A house with a person and a bot on the fake model; one fresh room per activation."""

    def __init__(self, shoal: Shoal, fake: FakeLLMServer) -> None:
        self.shoal = shoal
        self.fake = fake
        self.runtime = BuiltinRuntime(shoal.db, shoal.chat, shoal.runs, shoal.tools,
                                      lambda: shoal.models, shoal.secrets, shoal.settings,
                                      compactions=shoal.compactions)
        self.rooms = 0

    async def setup(self) -> None:
        async with self.shoal.db.write() as session:
            self.person = await create_person(session, "poster", "not-used-here", "Poster")
            self.house = await create_house(session, "Bench", self.person)
            self.bot = await create_bot(session, "Scout", self.person.id, verified=True)
            self.bot.config = {"model": {"primary": MODEL, "fallbacks": []}}
            await add_house_member(session, self.house.id, self.bot, "member")

    async def room(self, messages: list[str]) -> tuple[str, dict[str, object]]:
        """A fresh room with these messages; the last one is the trigger."""
        self.rooms += 1
        async with self.shoal.db.write() as session:
            room = await create_room(session, self.house.id, f"r{self.rooms}", self.person.id)
            await join_room(session, room.id, self.bot.id)
        trigger: dict[str, object] = {}
        for text in messages:
            trigger = await self.shoal.chat.post(self.person, room.id, text)
        return room.id, trigger

    async def activation(self, room_id: str, trigger: dict[str, object]) -> tuple[float, int]:
        """Run one activation; its time in ms and the model calls it made."""
        async with self.shoal.db.write() as session:
            bot = await session.get(User, self.bot.id)
            room = await session.get(Room, room_id)
            house = await session.get(House, self.house.id)
            assert bot is not None and room is not None and house is not None
            row = Activation(bot_id=bot.id, house_id=house.id, room_id=room.id,
                             trigger_message_id=str(trigger["id"]), trigger_kind="mention",
                             status="running", lease_owner="bench",
                             lease_expires_at=utcnow() + timedelta(hours=1))
            session.add(row)
            await session.flush()
        ctx = ActivationContext(self.shoal.chat, self.shoal.gateway, row, bot,
                                load_config(bot.config), room, house, trigger, [trigger])
        before = len(self.fake.requests)
        started = time.perf_counter()
        outcome = await self.runtime.run(ctx)
        elapsed = (time.perf_counter() - started) * 1000
        assert outcome.outcome == "replied", outcome
        async with self.shoal.db.write() as session:  # done, as the worker records it
            done = await session.get(Activation, row.id)
            assert done is not None
            done.status, done.outcome, done.lease_owner = "done", outcome.outcome, None
        return elapsed, len(self.fake.requests) - before


async def main(rounds: int) -> None:
    async with FakeLLMServer() as fake:
        with tempfile.TemporaryDirectory() as data_dir:
            shoal = Shoal(Settings(data_dir=Path(data_dir), secret="bench-" + "x" * 40))
            await shoal.start()
            catalog = Catalog(LLMConfig(
                providers={"openai": ProviderConfig(kind="openai", base_url=fake.openai_base_url,
                                                    api_key_env=["OPENAI_API_KEY"])},
                models={MODEL: ModelConfig(context_window=WINDOW)}), env={})
            shoal.models = ModelRouter(catalog, KeyRing(env={"OPENAI_API_KEY": "sk-bench"}))
            try:
                bench = Bench(shoal, fake)
                await bench.setup()
                short = [f"short message {i}" for i in range(12)] + ["Scout, the code?"]
                long = (["For the record: the launch code is blue-42."]
                        + [f"long message {i} {FILLER}" for i in range(11)]
                        + ["Scout, the code?"])
                times: dict[str, list[float]] = {"baseline": [], "compaction": []}
                calls: dict[str, set[int]] = {"baseline": set(), "compaction": set()}
                for i in range(rounds + 2):  # the first two rounds warm up
                    fake.script(Reply("blue-42"))
                    ms, n = await bench.activation(*await bench.room(short))
                    if i >= 2:
                        times["baseline"].append(ms)
                        calls["baseline"].add(n)
                    fake.script(Reply(tool_calls=[FakeToolCall(
                                    "save", {"key": f"code-{i}", "value": "blue-42"})]),
                                Reply("A member said the launch code is blue-42."),
                                Reply("blue-42"))
                    ms, n = await bench.activation(*await bench.room(long))
                    if i >= 2:
                        times["compaction"].append(ms)
                        calls["compaction"].add(n)
                report(rounds, times, calls)
            finally:
                await shoal.stop()


def report(rounds: int, times: dict[str, list[float]], calls: dict[str, set[int]]) -> None:
    print(f"an activation with and without compaction, {rounds} of each, interleaved "
          f"(SQLite, fake model answering at once, {WINDOW:,}-token window)")
    b50 = percentile(times["baseline"], 0.5)
    for name, what in (("baseline", "session fits the window"),
                       ("compaction", "flush + summary + answer")):
        p50, p99 = percentile(times[name], 0.5), percentile(times[name], 0.99)
        print(f"  {what:<28} model calls {sorted(calls[name])}   p50 {p50:7.1f} ms   "
              f"p99 {p99:7.1f} ms   (x{p50 / b50:.2f} of the baseline at p50)")
    extra = max(calls["compaction"]) - max(calls["baseline"])
    added = percentile(times["compaction"], 0.5) - b50
    print(f"  compaction adds {extra} model calls (the memory flush and the summary) and "
          f"{added:.1f} ms at p50 with a model that answers at once (its two loopback calls "
          f"included); with a model answering in 1 s, about {extra} s more")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    asyncio.run(main(parser.parse_args().rounds))
