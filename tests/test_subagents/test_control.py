"""Controlling children: kill by REST, command and tool (and with the parent's run), the
timeout, a failing child, announce room and none, allow_agents, archiving, and the list."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from shoal.errors import InvalidInput
from shoal.llm.fakeserver import FakeToolCall, Fault, Reply
from shoal.rooms.rooms import join_room
from shoal.runs.tables import Run
from shoal.store.tables import Interaction, User, utcnow
from shoal.subagents.lifecycle import RESULT, TIMED_OUT, SpawnRequest
from shoal.subagents.tables import Subagent
from shoal.subagents.tools import SessionTools
from shoal.tools.base import ToolScope
from tests.support import unique
from tests.test_dispatch.conftest import make_bot
from tests.test_subagents.conftest import CHILD_MODEL, PARENT_MODEL, Family, wait_until

PARENT = PARENT_MODEL.split("/")[1]
CHILD = CHILD_MODEL.split("/")[1]


def spawn(task: str = "look into it", **extra: Any) -> Reply:
    return Reply("", tool_calls=[FakeToolCall("sessions_spawn", {"task": task, **extra})])


async def running_child(family: Family, **extra: Any) -> Subagent:
    """The parent spawns one child whose model call hangs; returns it once it runs."""
    family.fake.script(spawn(**extra), Reply("Working on it."), Reply("Noted."), model=PARENT)
    family.fake.script(Fault.stall(), model=CHILD)
    await family.say(f"@{family.parent['handle']} look into it")

    async def asked() -> bool:
        kids = await family.children()
        return bool(kids) and kids[0].state == "running" and bool(
            family.requests(CHILD_MODEL))
    await wait_until(asked)
    return (await family.children())[0]


def heard_by_parent(family: Family) -> list[str]:
    """The last tool result of each of the parent's follow-up turns."""
    return [[m["content"] for m in r.body["messages"] if m["role"] == "tool"][-1]
            for r in family.requests(PARENT_MODEL)[2:]]


async def test_the_person_who_asked_kills_a_child_by_rest_and_the_parent_hears_it(
        family: Family) -> None:
    kid = await running_child(family)
    route = f"/api/subagents/{kid.id}/kill"
    r = await family.house.guest.post(route)
    assert r.status_code == 403 and "only the parent agent's owner" in r.json()["error"]
    r = await family.house.member.post(route)  # the member's message started the parent
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "killed"
    [kid] = await family.settled(1)
    by = f"killed by @{family.house.member.user['username']}"
    assert (kid.state, kid.error) == ("killed", by)
    await wait_until(lambda: _true(family.requests(CHILD_MODEL)[0].disconnected_at))
    assert heard_by_parent(family) == [f"sub-agent {kid.id} killed: {by}"]
    r = await family.house.member.post(route)
    assert r.status_code == 400 and "already ended (killed)" in r.json()["error"]
    async with family.server.shoal.db.read() as session:
        run = await session.scalar(select(Run).where(Run.activation_id == kid.activation_id))
    assert run is not None and run.status == "interrupted"


async def _true(value: object) -> bool:
    return value is not None


async def test_a_house_admin_lists_and_kills_by_command(family: Family) -> None:
    kid = await running_child(family, label="researcher")
    guest = await family.house.guest.socket()  # reading the list needs no more than a guest
    try:
        listing = await guest.call("send-message", {"agencyId": family.room_id,
                                                    "content": "/subagents"})
        assert listing["ok"] and listing["ephemeral"]
        assert listing["content"].splitlines()[0] == (
            "| id | state | task | parent | age | tokens |")
        row = next(line for line in listing["content"].splitlines() if kid.id in line)
        assert f"| {kid.id} | running | researcher | @{family.parent['username']} |" in row
        denied = await guest.call("send-message", {"agencyId": family.room_id,
                                                   "content": f"/subagents kill {kid.id}"})
        assert denied["ok"] is False and "only the parent agent's owner" in denied["error"]
    finally:
        await guest.close()
    admin = await family.house.admin.socket()
    try:
        ack = await admin.call("send-message", {"agencyId": family.room_id,
                                                "content": f"/subagents kill {kid.id}"})
    finally:
        await admin.close()
    assert ack["ok"] and ack["content"] == f"Sub-agent {kid.id} killed."
    [kid] = await family.settled(1)
    assert kid.state == "killed"
    assert heard_by_parent(family)[0].startswith(f"sub-agent {kid.id} (researcher) killed")


async def parent_tools(family: Family, kid: Subagent) -> dict[str, Any]:
    """The parent's sessions tools, as offered during the activation that spawned `kid`."""
    shoal = family.server.shoal
    async with shoal.db.read() as session:
        bot = await session.get(User, family.parent["id"])
    assert bot is not None
    found = await SessionTools(shoal.subagents).tools(
        ToolScope(bot, kid.house_id, kid.room_id, kid.parent_activation_id))
    return {t.name: t for t in found.tools}


async def test_the_parent_kills_by_tool_and_a_stopped_parent_run_takes_its_children(
        family: Family) -> None:
    kid = await running_child(family)
    tools = await parent_tools(family, kid)
    assert json.loads(await tools["sessions_kill"].run({"id": kid.id})) == {
        "id": kid.id, "state": "killed"}
    [kid] = await family.settled(1)
    assert kid.error == f"killed by @{family.parent['username']}"

    # A parent whose run is stopped while its child runs: the child is killed with it.
    family.fake.reset()
    family.fake.script(spawn("a second task"),
                       Reply("checking on it now", chunk_delay=0.2,
                             tool_calls=[FakeToolCall("sessions_list", {})]), model=PARENT)
    family.fake.script(Fault.stall(), model=CHILD)
    await family.say(f"@{family.parent['handle']} another one")

    async def streaming() -> bool:
        return len(family.requests(PARENT_MODEL)) == 2 and len(await family.children()) == 2
    await wait_until(streaming)
    # The parent's run, not its child's: the child runs as the same agent.
    children = [k.activation_id for k in await family.children()]
    async with family.server.shoal.db.read() as session:
        run = await session.scalar(select(Run).where(
            Run.agent_id == family.parent["id"], Run.status == "running",
            Run.activation_id.not_in(children)))
    assert run is not None
    r = await family.house.member.post(f"/api/runs/{run.id}/interrupt", {"action": "stop"})
    assert r.status_code == 200, r.text
    kids = await family.settled(2)
    assert (kids[1].state, kids[1].error) == ("killed", "its parent's run was stopped")
    assert kids[1].announce == "none"  # nobody left to tell
    assert not [a for a in await family.activations()
                if a.trigger_kind == RESULT and a.payload["subagent_id"] == kids[1].id]


async def test_a_child_past_its_timeout_ends_timed_out_and_the_parent_hears_why(
        family: Family) -> None:
    family.fake.script(spawn(run_timeout_seconds=1), Reply("Working on it."),
                       Reply("It took too long."), model=PARENT)
    family.fake.script(Fault.stall(), model=CHILD)
    await family.say(f"@{family.parent['handle']} look into it")
    [kid] = await family.settled(1)
    assert (kid.state, kid.error) == ("timed_out", TIMED_OUT)
    assert heard_by_parent(family) == [f"sub-agent {kid.id} timed out: {TIMED_OUT}"]


async def test_a_failing_childs_error_reaches_the_parent_not_the_room(family: Family) -> None:
    family.fake.script(spawn(), Reply("Working on it."), Reply("The helper failed."),
                       model=PARENT)
    family.fake.script(Fault.http(500), Fault.http(500), Fault.http(500), model=CHILD)
    await family.say(f"@{family.parent['handle']} look into it")
    [kid] = await family.settled(1)
    assert kid.state == "failed" and kid.error is not None
    assert kid.error.startswith("every model failed: openai/fake-child")
    assert heard_by_parent(family) == [f"sub-agent {kid.id} failed: {kid.error}"]
    said = [m.content for m in await family.messages_from(family.parent["id"])]
    assert said == ["Working on it.", "The helper failed."]  # no error notice of the child


async def test_announce_none_keeps_the_record_for_polling_and_waiting(family: Family) -> None:
    family.fake.script(spawn(announce="none"), Reply("Started it."), model=PARENT)
    family.fake.script(Reply("quietly done"), model=CHILD)
    await family.say(f"@{family.parent['handle']} look into it")
    [kid] = await family.settled(1)
    assert (kid.state, kid.result, kid.announced_activation_id) == (
        "completed", "quietly done", None)
    assert not [a for a in await family.activations() if a.trigger_kind == RESULT]
    assert not [m for m in await family.messages_from(kid.child_bot_id)
                if m.activation_id == kid.activation_id]
    tools = await parent_tools(family, kid)
    waited = json.loads(await tools["sessions_wait"].run({"id": kid.id, "timeout_seconds": 5}))
    assert waited == {"id": kid.id, "label": "", "state": "completed", "result": "quietly done",
                      "error": None}
    listed = json.loads(await tools["sessions_list"].run({}))
    assert [(c["id"], c["state"]) for c in listed] == [(kid.id, "completed")]
    r = await family.house.member.get(f"/api/subagents/{kid.id}")
    assert r.status_code == 200 and r.json()["result"] == "quietly done"
    assert r.json()["transcript"]["output"] == "quietly done"


async def test_announce_room_posts_the_childs_end_in_the_room(family: Family) -> None:
    family.fake.script(spawn(announce="room", label="scout"), Reply("A scout is out."),
                       model=PARENT)
    family.fake.script(Reply("the coast is clear"), model=CHILD)
    await family.say(f"@{family.parent['handle']} look around")
    [kid] = await family.settled(1)

    async def posted() -> bool:
        return bool([m for m in await family.messages_from(kid.child_bot_id)
                     if m.activation_id == kid.activation_id])
    await wait_until(posted)
    [message] = [m for m in await family.messages_from(kid.child_bot_id)
                 if m.activation_id == kid.activation_id]
    assert message.content == (f"sub-agent {kid.id} (scout) completed its task.\n\n"
                               "the coast is clear")
    assert message.meta["subagent"]["state"] == "completed"
    assert not [a for a in await family.activations() if a.trigger_kind == RESULT]


async def test_allow_agents_decides_whom_a_parent_may_spawn_as(family: Family) -> None:
    other = await make_bot(family.server, family.house,
                           model={"primary": CHILD_MODEL, "fallbacks": []})
    family.fake.script(spawn(agentId=f"@{other['handle']}"), Reply("Could not."), model=PARENT)
    await family.say(f"@{family.parent['handle']} ask the other one")
    await wait_until(lambda: _true(len(family.requests(PARENT_MODEL)) == 2 or None))
    refusal = [m["content"] for m in family.requests(PARENT_MODEL)[1].body["messages"]
               if m["role"] == "tool"]
    assert refusal == [f"error: @{family.parent['username']} may not spawn sub-agents as "
                       f"@{other['handle']}: its subagents.allow_agents does not list that "
                       "agent"]
    assert await family.children() == []
    async with family.server.shoal.db.write() as session:
        bot = await session.get(User, family.parent["id"])
        assert bot is not None
        bot.config = {**bot.config, "subagents": {"allow_agents": [f"@{other['handle']}"],
                                                  "model": CHILD_MODEL}}
    family.fake.reset()
    family.fake.script(spawn(agentId=f"@{other['handle']}"), Reply("Asked it."),
                       Reply("It answered."), model=PARENT)
    family.fake.script(Reply("the other one's answer"), model=CHILD)
    await family.say(f"@{family.parent['handle']} ask the other one again")
    [kid] = await family.settled(1)
    assert (kid.child_bot_id, kid.state, kid.result) == (
        other["id"], "completed", "the other one's answer")


async def test_archived_children_leave_the_list_and_their_transcripts_stay(
        family: Family) -> None:
    family.fake.script(spawn(label="old"), Reply("Working on it."), Reply("Done."),
                       model=PARENT)
    family.fake.script(Reply("an old answer"), model=CHILD)
    await family.say(f"@{family.parent['handle']} look into it")
    [kid] = await family.settled(1)
    route = "/api/subagents"
    r = await family.house.member.get(route, params={"roomId": family.room_id})
    assert [c["id"] for c in r.json()] == [kid.id]
    r = await family.house.member.get(route, params={"roomId": family.room_id,
                                                    "state": "running"})
    assert r.json() == []
    service = family.server.shoal.subagents
    saved = service.clock
    service.clock = lambda: utcnow() + timedelta(minutes=61)
    try:
        assert await service.archive_due() >= 1
    finally:
        service.clock = saved
    r = await family.house.member.get(route, params={"roomId": family.room_id})
    assert r.json() == []
    r = await family.house.member.get(route, params={"roomId": family.room_id,
                                                    "archived": "true"})
    assert [c["id"] for c in r.json()] == [kid.id] and r.json()[0]["archived"] is True
    r = await family.house.member.get(f"{route}/{kid.id}")
    assert r.status_code == 200 and r.json()["transcript"]["output"] == "an old answer"
    assert r.json()["transcript"]["events"][0]["type"] == "start"
    stranger = await family.server.register()
    assert (await stranger.get(f"{route}/{kid.id}")).status_code == 404
    r = await family.house.member.get(route, params={"roomId": family.room_id,
                                                    "state": "sleeping"})
    assert r.status_code in (400, 422) and "state" in r.json()["error"]


async def test_a_childs_tokens_count_against_the_parents_budget_and_interaction(
        family: Family) -> None:
    other = await make_bot(family.server, family.house,
                           model={"primary": CHILD_MODEL, "fallbacks": []})
    async with family.server.shoal.db.write() as session:
        bot = await session.get(User, family.parent["id"])
        assert bot is not None
        bot.config = {**bot.config, "daily_token_budget": 5000,
                      "subagents": {"allow_agents": ["*"], "model": CHILD_MODEL}}
    family.fake.script(Reply("", input_tokens=10, output_tokens=10,
                             tool_calls=[FakeToolCall("sessions_spawn", {
                                 "task": "spend", "agentId": f"@{other['handle']}",
                                 "announce": "none"})]),
                       Reply("Spent.", input_tokens=10, output_tokens=10), model=PARENT)
    family.fake.script(Reply("spent a lot", input_tokens=4000, output_tokens=1000),
                       model=CHILD)
    await family.say(f"@{family.parent['handle']} spend it")
    [kid] = await family.settled(1)
    assert (kid.child_bot_id, kid.input_tokens + kid.output_tokens) == (other["id"], 5000)
    await family.say(f"@{family.parent['handle']} once more")

    async def skipped() -> bool:
        return [a.skip_reason for a in await family.activations()][-1:] == ["budget"]
    await wait_until(skipped)
    # The spawn counted as one agent wake of the person's message's interaction.
    r = await family.house.owner.get(f"/api/agents/{family.parent['id']}/activations")
    first = r.json()[-1]
    async with family.server.shoal.db.read() as session:
        interaction = await session.get(Interaction, first["interaction_id"])
    assert interaction is not None and interaction.used == 2  # the parent, then its child


async def test_a_spawn_past_the_interactions_budget_is_refused(family: Family) -> None:
    r = await family.house.owner.patch(f"/api/houses/{family.house.id}/settings",
                                       {"interaction_budget": 1})
    assert r.status_code == 200, r.text
    family.fake.script(spawn(), Reply("Could not start it."), model=PARENT)
    await family.say(f"@{family.parent['handle']} look into it")
    await wait_until(lambda: _true(len(family.requests(PARENT_MODEL)) == 2 or None))
    refusal = [m["content"] for m in family.requests(PARENT_MODEL)[1].body["messages"]
               if m["role"] == "tool"]
    assert refusal == ["error: this conversation's budget of 1 agent wakes is spent; no more "
                       "sub-agents can start in it"]
    assert await family.children() == []


async def test_a_child_agent_that_cannot_post_in_the_room_is_refused(family: Family) -> None:
    outsider = await make_bot(family.server, family.house,
                              model={"primary": CHILD_MODEL, "fallbacks": []})
    r = await family.house.owner.post("/api/agencies", {
        "name": unique("private"), "houseId": family.house.id, "isPrivate": True})
    assert r.status_code == 201, r.text
    private_id = r.json()["id"]
    async with family.server.shoal.db.write() as session:
        await join_room(session, private_id, family.parent["id"])
        bot = await session.get(User, family.parent["id"])
        assert bot is not None
        bot.config = {**bot.config, "subagents": {"allow_agents": ["*"]}}
    family.fake.script(spawn(agentId=f"@{outsider['handle']}"), Reply("Could not."),
                       model=PARENT)
    r = await family.house.owner.post(f"/api/agencies/{private_id}/messages",
                                      {"content": f"@{family.parent['handle']} ask them"})
    assert r.status_code == 201, r.text
    await wait_until(lambda: _true(len(family.requests(PARENT_MODEL)) == 2 or None))
    refusal = [m["content"] for m in family.requests(PARENT_MODEL)[1].body["messages"]
               if m["role"] == "tool"]
    assert refusal == [f"error: @{outsider['username']} may not post in this room, so it "
                       "cannot work here; add it to the room first"]


async def test_a_spawns_thinking_level_reaches_the_childs_model(family: Family) -> None:
    # The child's model does not reason by itself: a level above off asks it for <think>.
    family.fake.script(spawn(announce="none", thinking="high"), Reply("Thinking hard."),
                       spawn("again", announce="none"), Reply("Plainly."), model=PARENT)
    family.fake.script(Reply("<think>weighing it</think>decided"), Reply("plain"),
                       model=CHILD)
    await family.say(f"@{family.parent['handle']} think it over")
    [kid] = await family.settled(1)
    assert kid.result == "decided"  # the reasoning stays out of the result
    [asked] = family.requests(CHILD_MODEL)
    assert "## Reasoning Format" in asked.body["messages"][0]["content"]
    await family.say(f"@{family.parent['handle']} once more")
    await family.settled(2)
    plain = family.requests(CHILD_MODEL)[1]
    assert "## Reasoning Format" not in plain.body["messages"][0]["content"]
    with pytest.raises(InvalidInput, match="thinking must be off, low, medium or high"):
        SpawnRequest.parse({"task": "x", "thinking": "lots"})
