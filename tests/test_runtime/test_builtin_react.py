"""A builtin agent acknowledges a message with the `react` tool: the room sees the reaction
live, no message is posted, and the reaction wakes no one."""

from __future__ import annotations

from shoal.llm.conventions import NO_REPLY
from shoal.llm.fakeserver import FakeLLMServer, FakeToolCall, Reply
from tests.test_runtime.conftest import Bench


async def test_a_builtin_agent_reacts_instead_of_replying(bench: Bench,
                                                          fake: FakeLLMServer) -> None:
    watcher = await bench.house.owner.socket()
    await watcher.join(bench.room_id)
    try:
        fake.script(Reply(tool_calls=[FakeToolCall("react", {"emoji": "👀"}),
                                      FakeToolCall("react", {"emoji": "not one"})]),
                    Reply(NO_REPLY))
        trigger = await bench.say("Scout, the build is green")
        outcome = await bench.run(trigger)
        assert outcome.outcome == "skipped"  # silent: it only reacted
        offered = {t["function"]["name"]: t for t in fake.requests[0].body["tools"]}
        assert offered["react"]["function"]["parameters"]["required"] == ["emoji"]
        results = [m["content"] for m in fake.requests[1].body["messages"]
                   if m["role"] == "tool"]
        assert results[0].startswith(f"reacted 👀 on message {trigger['id']}")
        assert results[1].startswith("error: ") and "not one emoji" in results[1]
        [added] = await watcher.wait_for("reaction-added")
        assert added["messageId"] == trigger["id"] and added["userId"] == bench.bot_id
        assert added["count"] == 1
        assert await bench.messages_after(trigger["seq"]) == []  # no message posted
        history = (await bench.house.member.get(
            f"/api/agencies/{bench.room_id}/messages")).json()
        assert history[0]["reactions"][0]["emoji"] == "👀"
        assert history[0]["reactions"][0]["users"][0]["id"] == bench.bot_id
    finally:
        await watcher.close()


async def test_react_refuses_a_message_of_another_room(bench: Bench,
                                                       fake: FakeLLMServer) -> None:
    r = await bench.house.owner.post("/api/agencies", {"name": "elsewhere",
                                                       "houseId": bench.house.id})
    other = r.json()["id"]
    r = await bench.house.owner.post(f"/api/agencies/{other}/messages", {"content": "there"})
    fake.script(Reply(tool_calls=[FakeToolCall("react", {"emoji": "👍",
                                                         "message_id": r.json()["id"]})]),
                Reply(NO_REPLY))
    await bench.run(await bench.say("Scout, hi"))
    [result] = [m["content"] for m in fake.requests[1].body["messages"] if m["role"] == "tool"]
    assert result == f"error: no message {r.json()['id']} in this room"
    assert (await bench.house.owner.get(f"/api/agencies/{other}/messages")).json()[0][
        "reactions"] == []
