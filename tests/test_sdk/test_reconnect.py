"""An agent cut off by the server comes back by itself and misses nothing, twice nothing."""

from __future__ import annotations

import asyncio

from shoal.sdk import Agent, Message
from tests.support import ShoalServer
from tests.test_sdk.bots import make_sdk_bot


def sids_of(server: ShoalServer, user_id: str) -> list[str]:
    return [sid for sid, state in server.shoal.gateway.sockets.items()
            if state.principal.id == user_id]


async def test_reconnect_resumes_from_the_last_seq(shoal_server: ShoalServer) -> None:
    bot = await make_sdk_bot(shoal_server)
    # A long first delay makes sure the messages below are posted while it is away.
    agent = Agent(shoal_server.url, bot.token, reconnect_delay=1.0)
    room_id = await agent.connect_and_join(bot.house.room_id)
    heard: list[Message] = []
    agent.on("message", heard.append)
    person = bot.house.member

    async def post(content: str) -> None:
        r = await person.post(f"/api/agencies/{room_id}/messages", {"content": content})
        assert r.status_code == 201, r.text

    async def heard_count(n: int) -> None:
        async with asyncio.timeout(10):
            while len(heard) < n:
                await asyncio.sleep(0.01)

    try:
        await post("before")
        await heard_count(1)
        [old_sid] = sids_of(shoal_server, bot.id)
        await shoal_server.shoal.gateway.sio.disconnect(old_sid)
        async with asyncio.timeout(5):
            while agent.connected:
                await asyncio.sleep(0.01)
        for i in range(5):
            await post(f"missed {i}")
        # Sending while away waits for the reconnect instead of failing.
        reply = await agent.send("back")
        assert agent.connected and sids_of(shoal_server, bot.id) not in ([], [old_sid])
        await post("after")
        await heard_count(8)
        await asyncio.sleep(0.2)  # room for a duplicate to show up, if there were one
        contents = [m.content for m in heard]
        assert contents == ["before", *(f"missed {i}" for i in range(5)), "back", "after"]
        seqs = [m.seq for m in heard]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        assert heard[6].id == reply.id
    finally:
        await agent.close()


async def test_sends_in_flight_while_the_server_drains_are_each_stored_once(
    shoal_server: ShoalServer,
) -> None:
    """A draining server answers what it took before it tells the socket to reconnect, and
    refuses what comes after; the agent sends the refused again once reconnected."""
    bot = await make_sdk_bot(shoal_server)
    agent = Agent(shoal_server.url, bot.token)
    room_id = await agent.connect_and_join(bot.house.room_id)
    try:
        [old_sid] = sids_of(shoal_server, bot.id)
        sends = [asyncio.create_task(agent.send(f"in flight {i}")) for i in range(30)]
        await asyncio.sleep(0.01)  # some are taken, some are still on their way
        await shoal_server.shoal.gateway.drain(timeout=5)
        sent = await asyncio.gather(*sends)  # none fails
        # It comes back on its own (at once if a send waits for it, else a moment later).
        async with asyncio.timeout(15):
            while sids_of(shoal_server, bot.id) in ([], [old_sid]):
                await asyncio.sleep(0.05)
        r = await bot.house.member.get(f"/api/agencies/{room_id}/messages",
                                       params={"after_seq": 0, "limit": 100})
        stored = [m["content"] for m in r.json() if m["sender_id"] == bot.id]
        assert sorted(stored) == sorted(f"in flight {i}" for i in range(30))  # each once
        assert sorted(m.id for m in sent) == sorted(m["id"] for m in r.json()
                                                   if m["sender_id"] == bot.id)
    finally:
        await agent.close()


async def test_a_message_relayed_after_a_later_one_is_still_heard_once(
    shoal_server: ShoalServer,
) -> None:
    """In a cluster each api process relays the messages it stores at once and the others'
    a moment later, so a socket can hear seq 8 before seq 7. The agent hears both, each once,
    and a resume after that loses neither and repeats neither."""
    bot = await make_sdk_bot(shoal_server)
    agent = Agent(shoal_server.url, bot.token, reconnect_delay=0.1)
    room_id = await agent.connect_and_join(bot.house.room_id)
    heard: list[Message] = []
    agent.on("message", heard.append)
    person, gateway = bot.house.member, shoal_server.shoal.gateway
    try:
        [sid] = sids_of(shoal_server, bot.id)
        state = gateway.sockets[sid]
        await gateway.leave(state, room_id)  # the next two are not relayed to it as they happen
        for text in ("earlier", "later"):
            r = await person.post(f"/api/agencies/{room_id}/messages", {"content": text})
            assert r.status_code == 201, r.text
        r = await person.get(f"/api/agencies/{room_id}/messages", params={"after_seq": 0})
        earlier, later = r.json()[-2:]
        await gateway.enter(state, room_id)
        for view in (later, earlier, later, earlier):  # out of order, then repeated
            await gateway.sio.emit("message", gateway.for_bots(view), to=sid)
        async with asyncio.timeout(10):
            while len(heard) < 2:
                await asyncio.sleep(0.01)
        await gateway.sio.disconnect(sid)  # it resumes from what it heard
        async with asyncio.timeout(10):
            while not agent.connected or sids_of(shoal_server, bot.id) in ([], [sid]):
                await asyncio.sleep(0.01)
        r = await person.post(f"/api/agencies/{room_id}/messages", {"content": "after"})
        async with asyncio.timeout(10):
            while len(heard) < 3:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # room for a duplicate to show up, if there were one
        assert [m.content for m in heard] == ["later", "earlier", "after"]
    finally:
        await agent.close()
