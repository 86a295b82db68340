"""House settings changed through the API reach the next activation: the time zone in the
builtin agents' prompt, and the model the relevance gate asks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from shoal.dispatch.planner import AMBIENT_DEBOUNCE
from shoal.llm.fakeserver import FakeLLMServer, Reply
from shoal.store.tables import Activation, utcnow
from tests.support import ShoalServer
from tests.test_runtime.conftest import FAKE_MODEL, Bench


async def set_settings(bench: Bench, change: dict[str, Any]) -> None:
    r = await bench.house.owner.patch(f"/api/houses/{bench.house.id}/settings", change)
    assert r.status_code == 200, r.text


def system_prompt(fake: FakeLLMServer, index: int) -> str:
    first = fake.requests[index].body["messages"][0]
    assert first["role"] == "system"
    return str(first["content"])


async def test_the_prompt_shows_the_time_in_the_houses_time_zone(
        bench: Bench, fake: FakeLLMServer) -> None:
    fake.script(Reply("hi"), Reply("hi"), Reply("hi"))
    await bench.run(await bench.say("hello"))
    assert "## Current time\n" in system_prompt(fake, 0)
    assert " UTC\n" in system_prompt(fake, 0)

    await set_settings(bench, {"timezone": "Asia/Kolkata"})
    await bench.run(await bench.say("what time is it?"))
    assert "Asia/Kolkata (UTC+05:30)\n" in system_prompt(fake, 1)

    await set_settings(bench, {"timezone": "America/New_York"})
    await bench.run(await bench.say("and now?"))
    assert "America/New_York (UTC-0" in system_prompt(fake, 2)


@pytest.fixture
def clock(shoal_server: ShoalServer) -> Iterator[list[datetime]]:
    """The dispatcher's and worker's clock: time moves only when the test moves it."""
    now = [utcnow()]
    shoal = shoal_server.shoal
    saved = shoal.dispatcher.clock, shoal.worker.clock
    shoal.dispatcher.clock = shoal.worker.clock = lambda: now[0]
    yield now
    shoal.dispatcher.clock, shoal.worker.clock = saved


async def test_the_relevance_gate_asks_the_houses_relevance_model(
        bench: Bench, fake: FakeLLMServer, clock: list[datetime]) -> None:
    await bench.configure(model={"primary": FAKE_MODEL}, trigger_mode="ambient")
    worker = bench.server.shoal.worker

    async def chatter(text: str) -> Activation:
        fake.script(Reply("NO"))
        await bench.say(text)
        clock[0] += AMBIENT_DEBOUNCE + timedelta(seconds=1)
        await worker.drain()
        async with bench.server.shoal.db.read() as session:
            return (await session.scalars(
                select(Activation).where(Activation.bot_id == bench.bot_id)
                .order_by(Activation.created_at.desc()).limit(1))).one()

    await set_settings(bench, {"relevance_model": "openai/fake-judge"})
    judged = await chatter("lunch plans: pizza or noodles?")
    assert (judged.outcome, judged.skip_reason) == ("skipped", "relevance")
    assert judged.model == "openai/fake-judge" and fake.requests[-1].model == "fake-judge"

    await set_settings(bench, {"relevance_model": "openai/fake-other-judge"})
    judged = await chatter("anyone for tacos instead?")
    assert judged.model == "openai/fake-other-judge"
    assert fake.requests[-1].model == "fake-other-judge"
