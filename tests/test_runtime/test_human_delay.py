"""`human_delay` spaces an agent's consecutive replies in a room."""

from __future__ import annotations

from datetime import datetime

from shoal.llm.fakeserver import FakeLLMServer, Reply
from tests.test_runtime.conftest import FAKE_MODEL, Bench


def when(message: dict) -> datetime:
    return datetime.fromisoformat(message["created_at"].replace("Z", "+00:00"))


async def test_consecutive_replies_are_spaced_by_the_human_delay(
        bench: Bench, fake: FakeLLMServer) -> None:
    await bench.configure(model={"primary": FAKE_MODEL, "fallbacks": []},
                          human_delay={"min_ms": 600, "max_ms": 700})
    fake.script(Reply("first"), Reply("second"))
    one = await bench.say("Scout, one")
    two = await bench.say("Scout, two")
    await bench.run(one)
    await bench.run(two)
    replies = [m for m in await bench.messages_after(two["seq"]) if m["sender_id"] == bench.bot_id]
    assert [m["content"] for m in replies] == ["first", "second"]
    gap = (when(replies[1]) - when(replies[0])).total_seconds()
    assert gap >= 0.6  # a lower bound: the delay itself, however slow the machine


async def test_the_delay_is_validated(bench: Bench) -> None:
    r = await bench.house.owner.patch(f"/api/agents/{bench.bot_id}/config",
                                      {"human_delay": {"min_ms": 900, "max_ms": 100}})
    assert r.status_code == 400 and "must not be below min_ms" in r.json()["error"]
    r = await bench.house.owner.patch(f"/api/agents/{bench.bot_id}/config",
                                      {"human_delay": {"min_ms": 100, "max_ms": 300}})
    assert r.status_code == 200
    assert r.json()["config"]["human_delay"] == {"min_ms": 100, "max_ms": 300}
