"""Sessions: what an agent remembers per room, cron job and sub-agent, as the API shows it
(turns, token counts, JSON Lines) to those who may read the room, and only to them."""

from __future__ import annotations

import json

import pytest

from shoal.errors import InvalidInput
from shoal.llm.fakeserver import FakeLLMServer, Reply
from shoal.rooms.rooms import join_room
from shoal.runtime.sessions import open_session, parse_session_key, session_key
from tests.support import unique
from tests.test_runtime.conftest import Bench


async def test_a_session_keeps_the_turns_with_their_tokens_and_exports_them(
        bench: Bench) -> None:
    await bench.configure(model={"primary": "offline"})
    await bench.say("an earlier remark")
    trigger = await bench.say("Scout, hello")
    outcome = await bench.run(trigger)
    assert outcome.outcome == "replied"
    base = f"/api/agents/{bench.bot_id}/sessions"

    r = await bench.house.member.get(base)
    assert r.status_code == 200, r.text
    [listed] = r.json()
    assert (listed["key"], listed["kind"], listed["room_id"]) == (
        f"room:{bench.room_id}", "room", bench.room_id)
    assert listed["turn_count"] == 3

    r = await bench.house.member.get(f"{base}/room:{bench.room_id}")
    assert r.status_code == 200, r.text
    session = r.json()
    turns = session["turns"]
    handle = trigger["sender_handle"]
    assert [(t["role"], t["content"]) for t in turns[:2]] == [
        ("user", f"@{handle}: an earlier remark"), ("user", f"@{handle}: Scout, hello")]
    assert turns[1]["message_id"] == trigger["id"]
    assert turns[2]["role"] == "assistant"
    assert turns[2]["message_id"] == outcome.reply_message_id
    assert all(t["tokens"] > 0 for t in turns)
    assert session["total_tokens"] == sum(t["tokens"] for t in turns)
    assert session["context_tokens"] == session["total_tokens"]  # nothing compacted yet

    r = await bench.house.member.get(f"{base}/room:{bench.room_id}",
                                     params={"after": 1, "limit": 1})
    assert [t["index"] for t in r.json()["turns"]] == [2] and r.json()["next_after"] == 2

    r = await bench.house.member.get(f"{base}/room:{bench.room_id}/export")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/x-ndjson")
    assert "attachment" in r.headers["content-disposition"]
    assert [json.loads(line) for line in r.text.splitlines()] == turns

    # The next wake takes in only what is new, and the agent's own reply is not doubled.
    await bench.run(await bench.say("Scout, again"))
    r = await bench.house.member.get(f"{base}/room:{bench.room_id}")
    roles = [t["role"] for t in r.json()["turns"]]
    assert roles == ["user", "user", "assistant", "user", "assistant"]


async def test_sessions_show_only_to_those_who_may_read_the_room(bench: Bench) -> None:
    await bench.configure(model={"primary": "offline"})
    house = bench.house
    r = await house.member.post("/api/agencies", {"name": unique("private"),
                                                  "houseId": house.id, "isPrivate": True})
    assert r.status_code == 201, r.text
    private = r.json()["id"]
    async with bench.server.shoal.db.write() as session:
        await join_room(session, private, bench.bot_id)
    r = await house.member.post(f"/api/agencies/{private}/messages",
                                {"content": "Scout, the secret plan"})
    secret = r.json()
    await bench.run(await bench.say("Scout, hello out here"))
    ctx = await bench.context(secret, private)
    assert (await bench.run(secret, ctx)).outcome == "replied"
    base = f"/api/agents/{bench.bot_id}/sessions"

    r = await house.member.get(base)
    assert {s["room_id"] for s in r.json()} == {bench.room_id, private}
    assert (await house.member.get(f"{base}/room:{private}")).status_code == 200

    # The owner is not in the private room: it is not listed, and reads as not found.
    r = await house.owner.get(base)
    assert {s["room_id"] for s in r.json()} == {bench.room_id}
    for path in (f"{base}/room:{private}", f"{base}/room:{private}/export"):
        r = await house.owner.get(path)
        assert r.status_code == 404 and "secret" not in r.text
    # A guest reads the public room's session; someone outside the house sees no agent.
    assert (await house.guest.get(f"{base}/room:{bench.room_id}")).status_code == 200
    outsider = await bench.server.register()
    r = await outsider.get(base)
    assert r.status_code == 404 and r.json()["error"] == "agent not found"
    assert (await outsider.get(f"{base}/room:{bench.room_id}")).status_code == 404
    # A key that is not one is not found, and the answer says what keys look like.
    r = await house.member.get(f"{base}/nonsense")
    assert r.status_code == 404 and "room:<room id>" in r.json()["error"]
    r = await bench.server.http().get(base)
    assert r.status_code == 401


async def test_cron_and_sub_agent_turns_have_sessions_of_their_own(
        bench: Bench, fake: FakeLLMServer) -> None:
    await bench.say("chatter in the room")
    for answer in ("Report one.", "Report two."):
        fake.script(Reply(answer))
        ctx = await bench.context(None)
        ctx.activation.payload = {"cron_job_id": "job-1", "prompt": "Write the daily report",
                                  "isolated": True, "deliver": False}
        assert (await bench.run(None, ctx)).outcome == "replied"
    # The job's second run remembers its first, and sees nothing of the room.
    second = [(m["role"], m["content"]) for m in fake.requests[1].body["messages"][1:]]
    assert second == [("user", "Write the daily report"), ("assistant", "Report one."),
                      ("user", "Write the daily report")]

    key = session_key("subagent", "task-7")
    spawned = await open_session(bench.server.shoal.db, bench.bot_id, bench.house.id,
                                 bench.room_id, key)
    assert (await open_session(bench.server.shoal.db, bench.bot_id, bench.house.id,
                               bench.room_id, key)).id == spawned.id
    fake.script(Reply("Found it."))
    ctx = await bench.context(None)
    ctx.activation.payload = {"session_key": key, "prompt": "Find the bug"}
    assert (await bench.run(None, ctx)).outcome == "replied"
    assert [m["content"] for m in fake.requests[2].body["messages"][1:]] == ["Find the bug"]

    r = await bench.house.member.get(f"/api/agents/{bench.bot_id}/sessions")
    kinds = {s["key"]: (s["kind"], s["turn_count"]) for s in r.json()}
    assert kinds == {"cron:job-1": ("cron", 4), key: ("subagent", 2)}
    # Only a sub-agent's session may be named by an activation.
    ctx = await bench.context(None)
    ctx.activation.payload = {"session_key": f"room:{bench.room_id}", "prompt": "x"}
    outcome = await bench.run(None, ctx)
    assert outcome.outcome == "error" and "not a sub-agent's" in (outcome.error or "")
    assert parse_session_key(key) == ("subagent", "task-7")
    for bad in ("subagent:", "crew:1", "room:a:b"):
        with pytest.raises(InvalidInput):
            parse_session_key(bad)

