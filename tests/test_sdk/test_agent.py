"""An SDK agent against a real Shoal: connecting, rooms, messages, commands and traces."""

from __future__ import annotations

import asyncio

import pytest

from shoal.sdk import (
    Agent,
    AuthError,
    CommandError,
    CommandTimeout,
    Message,
    NotConnected,
    RequestError,
)
from tests.support import ShoalServer
from tests.test_sdk.bots import make_sdk_bot


async def test_connects_with_a_verified_bot_token_and_talks(shoal_server: ShoalServer) -> None:
    bot = await make_sdk_bot(shoal_server)
    agent = Agent(shoal_server.url, bot.token)
    room_id = await agent.connect_and_join(bot.house.room_id)
    try:
        assert agent.username == bot.username and agent.connected
        heard: list[Message] = []
        seen = asyncio.Event()

        @agent.on("message")
        async def hear(message: Message) -> None:
            heard.append(message)
            seen.set()

        person = await bot.house.member.socket()
        await person.join(room_id)
        await person.call("send-message", {"agencyId": room_id,
                                           "content": f"hello @{bot.username}"})
        await asyncio.wait_for(seen.wait(), 5)
        assert heard[0].content == f"hello @{bot.username}" and heard[0].seq is not None
        assert heard[0].sender_username == bot.house.member.user["username"]

        sent = await agent.send("on it", metadata={"step": 1})
        got = await person.wait_for("message", 2)
        assert got[-1]["id"] == sent.id and got[-1]["metadata"] == {"step": 1}
        assert got[-1]["sender_type"] == "agent"
        edited = await agent.edit(sent.id, "done")
        assert edited.content == "done"
        assert (await person.wait_for("message-edited"))[0]["content"] == "done"
        recent = await agent.get_recent_messages(limit=10)
        assert [m.content for m in recent] == [f"hello @{bot.username}", "done"]
        await person.close()
    finally:
        await agent.close()


async def test_join_by_slug_and_join_all_and_plain_callbacks(shoal_server: ShoalServer) -> None:
    bot = await make_sdk_bot(shoal_server)
    rooms = (await bot.house.owner.get("/api/agencies")).json()
    slug = next(r["slug"] for r in rooms if r["id"] == bot.house.room_id)
    async with Agent(shoal_server.url, bot.token) as agent:
        assert await agent.join(slug) == bot.house.room_id
        assert bot.house.room_id in await agent.join_all()
        heard: list[str] = []
        agent.on("message", lambda m: heard.append(m.content))
        await agent.send("a plain callback hears this too")
        async with asyncio.timeout(5):
            while not heard:
                await asyncio.sleep(0.01)
        assert heard == ["a plain callback hears this too"]


async def test_refusals_are_sdk_errors(shoal_server: ShoalServer) -> None:
    with pytest.raises(AuthError):
        await Agent(shoal_server.url, "shb_not_a_token").connect()
    house_bot = await make_sdk_bot(shoal_server)
    r = await house_bot.house.owner.post("/api/agents", {"name": "Unverified",
                                                          "agencyId": house_bot.house.room_id})
    with pytest.raises(AuthError, match="verified"):
        await Agent(shoal_server.url, r.json()["agentToken"]).connect()
    agent = Agent(shoal_server.url, house_bot.token)
    with pytest.raises(NotConnected):
        await agent.send("too early")
    await agent.connect()
    try:
        with pytest.raises(NotConnected, match="join a room"):
            await agent.send("which room?")
        other = await make_sdk_bot(shoal_server)  # a room in a house this bot is not in
        with pytest.raises(RequestError):
            await agent.join(other.house.room_id)
    finally:
        await agent.close()


async def test_a_token_holding_unusable_text_gets_the_servers_answer(
        shoal_server: ShoalServer) -> None:
    # The login is sent ASCII-escaped, so the server, not the client's encoder, answers.
    with pytest.raises(RequestError, match="agentToken holds a lone UTF-16 surrogate") as caught:
        await Agent(shoal_server.url, "shb_pasted\udfffwrong").connect()
    assert caught.value.status == 400


async def test_command_acks_silent_and_visible(shoal_server: ShoalServer) -> None:
    bot = await make_sdk_bot(shoal_server)
    async with Agent(shoal_server.url, bot.token) as agent:
        room_id = await agent.join(bot.house.room_id)
        person = await bot.house.member.socket()
        await person.join(room_id)
        result = await agent.execute_command("/echo quiet please")
        assert (result.ok, result.command, result.content) == (True, "echo", "quiet please")
        assert result.type == "system"
        loud = await agent.execute_command("/roll 2d6", silent=False)
        assert loud.ok and loud.command == "roll" and loud.message_id
        posted = await person.wait_for("message")
        # Only the visible command reached the room.
        assert [m["id"] for m in posted] == [loud.message_id]
        assert posted[0]["content"] == loud.content
        notes = await agent.execute_command("notes")
        assert notes.ephemeral and "No notes" in notes.content
        with pytest.raises(CommandError) as failed:
            await agent.execute_command("/get missing-key")
        assert failed.value.command == "get" and "no note missing-key" in failed.value.message
        with pytest.raises(CommandError, match="unknown|Unknown"):
            await agent.execute_command("/no-such-command")
        with pytest.raises(CommandTimeout):
            await agent.execute_command("/echo slow", timeout=0.0001)
        await person.close()


async def test_a_trace_attached_to_a_reply_is_stored_intact(shoal_server: ShoalServer) -> None:
    bot = await make_sdk_bot(shoal_server)
    async with Agent(shoal_server.url, bot.token) as agent:
        room_id = await agent.join(bot.house.room_id)
        trace = agent.start_trace()
        await agent.execute_command("/save status green")
        assert (await trace.command("/get status")).content == "status: green"
        failed = await trace.command("/get nothing-here")
        assert not failed.ok and "no note" in failed.content
        metadata = trace.finish()
        steps = metadata["trace"]
        assert [(s["step"], s["status"]) for s in steps] == [("/get status", "done"),
                                                             ("/get nothing-here", "error")]
        assert all(s["duration"].endswith("ms") and s["duration"][:-2].isdigit() for s in steps)
        reply = await agent.send("status is green", metadata=metadata)
    r = await bot.house.owner.get(f"/api/agencies/{room_id}/messages", params={"limit": 5})
    stored = next(m for m in r.json() if m["id"] == reply.id)
    assert stored["metadata"] == metadata
