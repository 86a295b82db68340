"""Reactions: people react over REST and sockets, the room sees counts and who live, history
keeps them, SDK agents react, and no reaction wakes an agent."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from shoal.sdk import Agent
from tests.support import ShoalServer, make_house
from tests.test_sdk.bots import make_sdk_bot


async def post(person: Any, room_id: str, content: str) -> dict[str, Any]:
    r = await person.post(f"/api/agencies/{room_id}/messages", {"content": content})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_people_react_and_the_room_sees_counts_and_who_live(
        shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    message = await post(house.owner, house.room_id, "ship it?")
    watcher = await house.admin.socket()
    await watcher.join(house.room_id)
    try:
        r = await house.member.post(f"/api/messages/{message['id']}/reactions", {"emoji": "👍"})
        assert r.status_code == 200, r.text
        assert r.json()["count"] == 1 and r.json()["changed"] is True
        [added] = await watcher.wait_for("reaction-added")
        assert added["messageId"] == message["id"] and added["agencyId"] == house.room_id
        assert added["emoji"] == "👍" and added["count"] == 1
        assert [u["id"] for u in added["users"]] == [house.member.id]

        # A guest can read the room, so can react; the count and who grow.
        r = await house.guest.post(f"/api/messages/{message['id']}/reactions", {"emoji": "👍"})
        assert r.status_code == 200, r.text
        added = (await watcher.wait_for("reaction-added", 2))[-1]
        assert added["count"] == 2
        assert {u["username"] for u in added["users"]} == {
            house.member.user["username"], house.guest.user["username"]}

        # Reacting again is a no-op: same count, no event.
        r = await house.member.post(f"/api/messages/{message['id']}/reactions", {"emoji": "👍"})
        assert r.json()["count"] == 2 and r.json()["changed"] is False

        # Over the socket too, with another emoji (a joined sequence counts as one).
        ack = await watcher.call("add-reaction", {"messageId": message["id"], "emoji": "👍🏽"})
        assert ack["ok"] and ack["count"] == 1

        history = (await house.owner.get(f"/api/agencies/{house.room_id}/messages")).json()
        shown = next(m for m in history if m["id"] == message["id"])
        assert [(r["emoji"], r["count"]) for r in shown["reactions"]] == [("👍", 2), ("👍🏽", 1)]

        r = await house.member.delete(
            f"/api/messages/{message['id']}/reactions/{quote('👍')}")
        assert r.status_code == 200 and r.json()["count"] == 1
        [removed] = await watcher.wait_for("reaction-removed")
        assert removed["count"] == 1 and [u["id"] for u in removed["users"]] == [house.guest.id]
        # Taking back a reaction that is not there changes nothing.
        r = await house.member.delete(
            f"/api/messages/{message['id']}/reactions/{quote('👍')}")
        assert r.status_code == 200 and r.json()["changed"] is False
        assert len(watcher.received("reaction-removed")) == 1
        # What is not one emoji cannot be a reaction to take back.
        r = await house.member.delete(f"/api/messages/{message['id']}/reactions/nope")
        assert r.status_code == 404 and "is not a reaction" in r.json()["error"]
    finally:
        await watcher.close()


async def test_bad_emoji_outsiders_and_deleted_messages_are_refused(
        shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    message = await post(house.member, house.room_id, "hello")
    path = f"/api/messages/{message['id']}/reactions"
    for bad in ("thumbs up", "👍👍", "", None, 5):
        r = await house.member.post(path, {"emoji": bad})
        assert r.status_code == 400, (bad, r.text)
        assert "emoji" in r.json()["error"]
    outsider = await shoal_server.register()
    r = await outsider.post(path, {"emoji": "👍"})
    assert r.status_code == 404
    r = await house.member.post("/api/messages/nope/reactions", {"emoji": "👍"})
    assert r.status_code == 404
    assert (await house.guest.post(path, {"emoji": "👀"})).status_code == 200
    assert (await house.member.delete(f"/api/messages/{message['id']}")).status_code == 200
    r = await house.member.post(path, {"emoji": "👍"})
    assert r.status_code == 400 and "deleted" in r.json()["error"]
    history = (await house.member.get(f"/api/agencies/{house.room_id}/messages")).json()
    shown = next(m for m in history if m["id"] == message["id"])
    assert shown["deleted"] and shown["reactions"] == []  # a deleted message keeps none


async def test_an_sdk_agent_reacts_and_reactions_wake_no_agent(
        shoal_server: ShoalServer) -> None:
    bot = await make_sdk_bot(shoal_server)
    house = bot.house
    agent = Agent(shoal_server.url, bot.token)
    room_id = await agent.connect_and_join(house.room_id)
    heard: list[Any] = []
    reactions: list[dict[str, Any]] = []
    agent.on("message", heard.append)
    agent.on("reaction-added", reactions.append)
    try:
        message = await post(house.member, room_id, f"@{bot.username} deploy finished")
        async with asyncio.timeout(5):
            while not heard:
                await asyncio.sleep(0.02)
        before = await activations(shoal_server, bot.id, house.owner)

        answer = await agent.react(message["id"], "✅")
        assert answer["count"] == 1 and answer["users"][0]["id"] == bot.id
        r = await house.member.post(f"/api/messages/{message['id']}/reactions",
                                    {"emoji": "🎉"})
        assert r.status_code == 200
        async with asyncio.timeout(5):
            while len(reactions) < 2:
                await asyncio.sleep(0.02)
        history = (await house.member.get(f"/api/agencies/{room_id}/messages")).json()
        assert {r["emoji"]: r["count"] for r in history[0]["reactions"]} == {"✅": 1, "🎉": 1}
        # The mention woke the agent once; the reactions (its own and a person's) did not,
        # and reached it as reactions, not as messages.
        after = await activations(shoal_server, bot.id, house.owner)
        assert len(before) == 1 and [a["id"] for a in after] == [before[0]["id"]]
        assert [m.content for m in heard] == [f"@{bot.username} deploy finished"]
        assert [e["emoji"] for e in reactions] == ["✅", "🎉"]
        answer = await agent.unreact(message["id"], "✅")
        assert answer["count"] == 0 and answer["changed"] is True
    finally:
        await agent.close()


async def activations(server: ShoalServer, bot_id: str, owner: Any) -> list[dict[str, Any]]:
    r = await owner.get(f"/api/agents/{bot_id}/activations")
    assert r.status_code == 200, r.text
    body = r.json()
    return body["activations"] if isinstance(body, dict) else body  # type: ignore[no-any-return]
