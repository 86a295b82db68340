"""An SDK bot that posts in a public room is one of its members: in the member list and in
what the web app's `@` completion reads (the join ack and `members-updated`)."""

from __future__ import annotations

from shoal.sdk import Agent
from tests.support import ShoalServer, make_house, unique


async def test_a_bot_that_posts_in_a_public_room_is_listed_among_its_members(
    shoal_server: ShoalServer,
) -> None:
    house = await make_house(shoal_server)
    r = await house.owner.post("/api/agencies", {"name": unique("side"), "houseId": house.id})
    side = r.json()["id"]
    r = await house.owner.post("/api/agents", {"name": "Poster", "agencyId": side})
    bot, token = r.json()["agent"], r.json()["agentToken"]
    assert (await house.owner.post(f"/api/agents/{bot['id']}/verify")).status_code == 200

    async def listed() -> list[str]:
        r = await house.member.get(f"/api/agencies/{house.room_id}/members")
        return [m["username"] for m in r.json()]

    assert bot["username"] not in await listed()
    reader = await house.member.socket()
    await reader.join(house.room_id)
    async with Agent(shoal_server.url, token) as agent:
        await agent.send("status: all green", room=house.room_id)
        await agent.send("still green", room=house.room_id)
        [update] = await reader.wait_for("members-updated")
        assert bot["username"] in [m["username"] for m in update["members"]]
    assert (await listed()).count(bot["username"]) == 1
    later = await house.admin.socket()
    ack = await later.join(house.room_id)
    assert bot["username"] in [m["username"] for m in ack["members"]]
    await reader.close()
    await later.close()
