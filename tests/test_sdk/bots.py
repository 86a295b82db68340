"""An SDK bot in a fresh house, as its owner would set one up."""

from __future__ import annotations

from dataclasses import dataclass

from tests.support import House, ShoalServer, make_house


@dataclass
class SdkBot:
    """A verified bot whose runtime is `sdk`, member of `house.room_id`."""

    house: House
    id: str
    username: str
    token: str


async def make_sdk_bot(server: ShoalServer, name: str = "Sdk Bot") -> SdkBot:
    """Create a bot with POST /api/agents in a new house's room, verify it, mark it `sdk`."""
    house = await make_house(server)
    r = await house.owner.post("/api/agents", {"name": name, "agencyId": house.room_id})
    assert r.status_code == 201, r.text
    agent, token = r.json()["agent"], r.json()["agentToken"]
    assert (await house.owner.post(f"/api/agents/{agent['id']}/verify")).status_code == 200
    r = await house.owner.patch(f"/api/agents/{agent['id']}/config", {"runtime": "sdk"})
    assert r.status_code == 200, r.text
    return SdkBot(house, agent["id"], agent["username"], token)
