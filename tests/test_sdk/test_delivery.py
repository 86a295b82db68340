"""What `delivered` means for an SDK bot: a socket of the bot was in the room. A mention the
bot could not hear waits, and is heard and delivered when the bot joins the room."""

from __future__ import annotations

import asyncio
from typing import Any

from shoal.sdk import Agent, Message
from tests.support import House, ShoalServer, make_house


async def new_sdk_bot(house: House, name: str) -> tuple[dict[str, Any], str]:
    """A bot made as the web app makes one, for the house (no room named), on the SDK."""
    r = await house.owner.post("/api/agents", {"name": name, "houseId": house.id})
    assert r.status_code == 201, r.text
    bot, token = r.json()["agent"], r.json()["agentToken"]
    assert (await house.owner.post(f"/api/agents/{bot['id']}/verify")).status_code == 200
    r = await house.owner.patch(f"/api/agents/{bot['id']}/config", {"runtime": "sdk"})
    assert r.status_code == 200, r.text
    return bot, token


async def activations(house: House, bot_id: str) -> list[dict[str, Any]]:
    r = await house.member.get(f"/api/agents/{bot_id}/activations")
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def mention(server: ShoalServer, house: House, room_id: str, username: str,
                  text: str) -> dict[str, Any]:
    r = await house.member.post(f"/api/agencies/{room_id}/messages",
                                {"content": f"@{username} {text}"})
    assert r.status_code in (200, 201), r.text
    await server.shoal.worker.drain()
    return r.json()  # type: ignore[no-any-return]


def hearing(agent: Agent) -> asyncio.Queue[Message]:
    heard: asyncio.Queue[Message] = asyncio.Queue()
    agent.on("message", heard.put_nowait)
    return heard


async def test_a_bot_made_for_a_house_hears_its_default_room_after_join_all(
    shoal_server: ShoalServer,
) -> None:
    house = await make_house(shoal_server)
    bot, token = await new_sdk_bot(house, "Lobby Listener")
    members = (await house.member.get(f"/api/agencies/{house.room_id}/members")).json()
    assert bot["id"] in [m["id"] for m in members]
    async with Agent(shoal_server.url, token) as agent:
        heard = hearing(agent)
        assert await agent.join_all() == [house.room_id]
        await mention(shoal_server, house, house.room_id, bot["username"], "are you there?")
        message = await asyncio.wait_for(heard.get(), 5)
        assert message.content == f"@{bot['username']} are you there?"
        [row] = await activations(house, bot["id"])
        assert (row["status"], row["outcome"]) == ("done", "delivered")


async def test_a_mention_the_bot_could_not_hear_waits_until_it_joins(
    shoal_server: ShoalServer,
) -> None:
    house = await make_house(shoal_server)
    bot, token = await new_sdk_bot(house, "Late Joiner")
    r = await house.owner.post("/api/agencies", {"name": "side room", "houseId": house.id})
    side = r.json()["id"]
    # Not connected at all: nothing reached it.
    first = await mention(shoal_server, house, house.room_id, bot["username"], "first")
    [row] = await activations(house, bot["id"])
    assert (row["status"], row["outcome"]) == ("waiting", None)
    r = await house.member.get(f"/api/agents/{bot['id']}/activations",
                               params={"outcome": "waiting"})
    assert [a["trigger_message_id"] for a in r.json()] == [first["id"]]
    async with Agent(shoal_server.url, token) as agent:
        heard = hearing(agent)
        # Connected, but not in the side room, where it is not a member either.
        await agent.join_all()
        second = await mention(shoal_server, house, side, bot["username"], "second")
        assert (await asyncio.wait_for(heard.get(), 5)).id == first["id"]  # caught up
        rows = {a["trigger_message_id"]: a for a in await activations(house, bot["id"])}
        assert rows[first["id"]]["outcome"] == "delivered"
        assert (rows[second["id"]]["status"], rows[second["id"]]["outcome"]) == ("waiting", None)
        await agent.join(side)
        assert (await asyncio.wait_for(heard.get(), 5)).id == second["id"]
        rows = {a["trigger_message_id"]: a for a in await activations(house, bot["id"])}
        assert [rows[m["id"]]["outcome"] for m in (first, second)] == ["delivered"] * 2
        assert heard.empty()
