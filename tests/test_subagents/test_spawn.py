"""Spawning: a parent spawns three children in one turn; each runs isolated, with the
minimal prompt and the sub-agent deny list, at most max_concurrent at once; each end
reaches the parent exactly once, and the parent answers once with all three."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from shoal.llm.fakeserver import FakeToolCall, Fault, Reply
from shoal.runtime.worker import Worker
from shoal.subagents.lifecycle import RESULT
from tests.test_subagents.conftest import CHILD_MODEL, PARENT_MODEL, Family, wait_until

TASKS = ["count the apples", "count the pears", "count the plums"]
RESULTS = ["seven apples found", "three pears found", "no plums at all"]


def spawn_call(task: str, **extra: Any) -> FakeToolCall:
    return FakeToolCall("sessions_spawn", {"task": task, **extra})


def tool_messages(request: Any) -> list[str]:
    return [m["content"] for m in request.body["messages"] if m["role"] == "tool"]


def tool_names(request: Any) -> set[str]:
    return {t["function"]["name"] for t in request.body.get("tools", [])}


async def test_three_children_run_isolated_in_their_lane_and_the_parent_answers_once(
        family: Family) -> None:
    fake = family.fake
    fake.script(Reply("", tool_calls=[spawn_call(t, label=t.split()[-1]) for t in TASKS]),
                Reply("NO_REPLY"), Reply("NO_REPLY"), Reply("NO_REPLY"),
                Reply("All three are back: seven apples, three pears, no plums."),
                model=PARENT_MODEL.split("/")[1])
    # One child first tries to spawn a grandchild; the tool is not offered to it.
    fake.script(Reply("", tool_calls=[spawn_call("a grandchild task")]),
                *[Reply(r, chunk_delay=0.03) for r in RESULTS], model=CHILD_MODEL.split("/")[1])
    seen_running: list[int] = []

    async def watch() -> None:
        while True:
            kids = await family.children()
            seen_running.append(sum(k.state == "running" for k in kids))
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch())
    try:
        trigger = await family.say(f"@{family.parent['handle']} count the fruit, in parallel")
        kids = await family.settled(3)
    finally:
        watcher.cancel()
    assert [k.state for k in kids] == ["completed"] * 3
    assert sorted(k.result or "" for k in kids) == sorted(RESULTS)
    assert [k.task for k in kids] == TASKS and [k.label for k in kids] == [
        "apples", "pears", "plums"]
    assert max(seen_running) == 2  # max_concurrent: two at once, the third waited

    child_requests = family.requests(CHILD_MODEL)
    assert len(child_requests) == 4
    for request in child_requests:
        system = request.body["messages"][0]["content"]
        assert "# Sub-agent context" in system and "prompt=minimal" in system
        assert "## Silent replies" not in system  # the minimal prompt
        users = [m["content"] for m in request.body["messages"] if m["role"] == "user"]
        assert len(users) == 1 and users[0] in TASKS  # its task alone
        assert trigger["content"] not in json.dumps(request.body)  # not the room's history
        assert "sessions_spawn" not in tool_names(request)
    refused = [t for r in child_requests for t in tool_messages(r)]
    assert refused == ["error: sessions_spawn is not allowed here (the subagent policy: "
                       "deny group:sessions)"]

    follow_ups = [a for a in await family.activations() if a.trigger_kind == RESULT]
    assert len(follow_ups) == 3
    assert {a.payload["subagent_id"] for a in follow_ups} == {k.id for k in kids}
    assert {k.announced_activation_id for k in kids} == {a.id for a in follow_ups}
    parent_requests = family.requests(PARENT_MODEL)
    heard = [tool_messages(r)[-1] for r in parent_requests[2:]]
    for result in RESULTS:  # each child's end was handed to the parent exactly once
        assert sum(h.split("\n\n")[1] == result for h in heard) == 1
    assert all(r in heard[-1] for r in RESULTS)  # the last turn sees all three
    assert "Every other sub-agent you spawned for this has ended." in heard[-1]
    said = [m.content for m in await family.messages_from(family.parent["id"])]
    assert said == ["All three are back: seven apples, three pears, no plums."]


async def test_the_lane_holds_across_workers_claiming_at_once(
        family: Family, workers: tuple[list[Any], Callable[[], Worker]]) -> None:
    _, make = workers
    fake = family.fake
    fake.script(Reply("", tool_calls=[spawn_call(t) for t in TASKS]), Reply("Started three."),
                model=PARENT_MODEL.split("/")[1])
    fake.script(Fault.stall(), Fault.stall(), Fault.stall(), model=CHILD_MODEL.split("/")[1])
    first, second = make(), make()
    await family.say(f"@{family.parent['handle']} count the fruit")

    async def spawned() -> bool:
        await first.tick()
        return len(await family.children()) == 3 and all(
            a.status == "done" for a in await family.activations() if a.trigger_kind == "mention")
    await wait_until(spawned)
    for _ in range(5):  # two workers (as two processes would) claim at the same moments
        await asyncio.gather(first.tick(), second.tick())
    kids = await family.children()
    assert sorted(k.state for k in kids) == ["pending", "running", "running"]
    assert kids[2].state == "pending"  # the oldest go first; the last one waits its turn
