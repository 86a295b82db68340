"""Crash safety: a worker killed while a child runs, or while its parent hears the end, and
an end whose room announcement was not posted yet: each end is announced exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from shoal.llm.fakeserver import FakeToolCall, Fault, Reply
from shoal.runtime.worker import Worker
from shoal.subagents.lifecycle import RESULT
from tests.test_subagents.conftest import CHILD_MODEL, PARENT_MODEL, Family, die, wait_until

PARENT = PARENT_MODEL.split("/")[1]
CHILD = CHILD_MODEL.split("/")[1]


async def test_a_worker_killed_while_the_child_runs_leaves_one_announcement(
        family: Family, workers: tuple[list[Any], Callable[[], Worker]]) -> None:
    now, make = workers
    family.fake.script(Reply("", tool_calls=[FakeToolCall("sessions_spawn",
                                                           {"task": "find the answer"})]),
                       Reply("Working on it."), Reply("The child says 42."), model=PARENT)
    family.fake.script(Fault.stall(), Reply("42"), model=CHILD)
    dead = make()
    await family.say(f"@{family.parent['handle']} find the answer")
    assert await dead.tick() == 1  # the parent's turn

    async def child_asked() -> bool:
        await dead.tick()
        return len(family.requests(CHILD_MODEL)) == 1
    await wait_until(child_asked)
    await die(dead)  # mid-child: its lease is left to run out
    [kid] = await family.children()
    assert kid.state == "running"
    now[0] += timedelta(seconds=16)
    survivor = make()
    await survivor.drain()
    [kid] = await family.children()
    assert (kid.state, kid.result) == ("completed", "42")
    follow_ups = [a for a in await family.activations() if a.trigger_kind == RESULT]
    assert len(follow_ups) == 1 and follow_ups[0].outcome == "replied"
    said = [m.content for m in await family.messages_from(family.parent["id"])]
    assert said == ["Working on it.", "The child says 42."]


async def test_a_worker_killed_while_the_parent_hears_the_end_leaves_one_answer(
        family: Family, workers: tuple[list[Any], Callable[[], Worker]]) -> None:
    now, make = workers
    family.fake.script(Reply("", tool_calls=[FakeToolCall("sessions_spawn",
                                                           {"task": "find the answer"})]),
                       Reply("Working on it."), Fault.stall(), Reply("The child says 42."),
                       model=PARENT)
    family.fake.script(Reply("42"), model=CHILD)
    dead = make()
    await family.say(f"@{family.parent['handle']} find the answer")

    async def follow_up_asked() -> bool:
        await dead.tick()
        return len(family.requests(PARENT_MODEL)) == 3
    await wait_until(follow_up_asked)
    await die(dead)  # while the parent's follow-up runs
    now[0] += timedelta(seconds=16)
    await make().drain()
    follow_ups = [a for a in await family.activations() if a.trigger_kind == RESULT]
    assert [(a.outcome, a.attempts) for a in follow_ups] == [("replied", 2)]
    said = [m.content for m in await family.messages_from(family.parent["id"])]
    assert said == ["Working on it.", "The child says 42."]


async def test_a_room_announcement_left_unposted_is_posted_once(
        family: Family, workers: tuple[list[Any], Callable[[], Worker]]) -> None:
    _, make = workers
    family.fake.script(Reply("", tool_calls=[FakeToolCall("sessions_spawn", {
        "task": "find the answer", "announce": "room", "label": "finder"})]),
        Reply("The finder will post its answer here."), model=PARENT)
    family.fake.script(Reply("The answer is 42."), model=CHILD)
    # These workers tell nobody of an end: the process "died" before the post.
    await family.say(f"@{family.parent['handle']} find the answer")
    await make().drain()
    [kid] = await family.children()
    assert kid.state == "completed" and kid.announced_message_id is None
    assert not [m for m in await family.messages_from(kid.child_bot_id)
                if m.activation_id == kid.activation_id]
    service = family.server.shoal.subagents
    await asyncio.gather(service.sweep(), service.sweep(), service.sweep())
    posted = [m for m in await family.messages_from(kid.child_bot_id)
              if m.activation_id == kid.activation_id]
    assert len(posted) == 1
    assert posted[0].content.endswith("The answer is 42.")
    assert posted[0].meta["subagent"]["id"] == kid.id
    assert posted[0].meta["subagent"]["parent_agent_id"] == family.parent["id"]
    assert posted[0].meta["subagent"]["parent_run_id"] is not None  # the parent's run
    [kid] = await family.children()
    assert kid.announced_message_id == posted[0].id
    assert not [a for a in await family.activations() if a.trigger_kind == RESULT]
