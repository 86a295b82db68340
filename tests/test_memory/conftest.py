"""A house for memory tests: people, a public room, a private room and a DM, and an agent in
all three; helpers that call the memory tools as the agent would and wait for the indexer."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from shoal.memory import EmbedJob
from shoal.store.tables import User
from shoal.tools.base import ToolScope
from tests.support import House, ShoalServer, make_house, unique


@dataclass
class World:
    server: ShoalServer
    house: House
    bot_id: str
    other_public: str  # a second public room
    private: str  # a private room: the member and the bot
    dm: str  # the member's DM with the bot

    @property
    def public(self) -> str:
        return self.house.room_id

    async def say(self, room_id: str, content: str) -> dict[str, Any]:
        """The member posts a message."""
        r = await self.house.member.post(f"/api/agencies/{room_id}/messages",
                                         {"content": content})
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def tool(self, name: str, room_id: str, **arguments: Any) -> str:
        """Call a memory tool as the agent, in a room, through the registry's sources."""
        shoal = self.server.shoal
        async with shoal.db.read() as session:
            bot = await session.get(User, self.bot_id)
        assert bot is not None
        found = await shoal.tools.gather(ToolScope(bot, self.house.id, room_id))
        tool = next(t for t in found.tools if t.name == name)
        return await tool.run(arguments)

    async def indexed(self) -> None:
        """Wait until the indexer has embedded everything queued."""
        for _ in range(200):
            async with self.server.shoal.db.read() as session:
                if not await session.scalar(select(func.count()).select_from(EmbedJob)):
                    return
            await asyncio.sleep(0.05)
        raise AssertionError("documents still wait for their vectors")


@pytest.fixture
async def world(shoal_server: ShoalServer) -> World:
    house = await make_house(shoal_server)
    member = house.member
    r = await member.post("/api/agents", {"name": unique("Scout"), "agencyId": house.room_id})
    assert r.status_code == 201, r.text
    bot_id = r.json()["agent"]["id"]
    r = await member.post("/api/agencies", {"name": unique("other"), "houseId": house.id})
    assert r.status_code == 201, r.text
    other = r.json()["id"]
    r = await member.post("/api/agencies", {"name": unique("secret"), "houseId": house.id,
                                            "isPrivate": True})
    assert r.status_code == 201, r.text
    private = r.json()["id"]
    r = await member.post(f"/api/agencies/{private}/agents", {"agentId": bot_id})
    assert r.status_code == 200, r.text
    r = await member.post(f"/api/dm/{bot_id}")
    assert r.status_code == 200, r.text
    dm = r.json()["agency"]["id"]
    return World(shoal_server, house, bot_id, other, private, dm)
