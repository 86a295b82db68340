"""Fixtures for runs: a house with a verified SDK agent in its room, on raw sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support import House, Person, ShoalServer, Socket, make_house, unique


@dataclass
class Scene:
    """A house, its room, an agent connected as an SDK agent would be, and a watcher."""

    server: ShoalServer
    house: House
    agent_id: str
    agent_token: str  # the agent's session token
    agent: Socket
    watcher: Socket  # the member's socket, joined to the room
    trigger_id: str  # a message by the member: runs started from it are the member's

    @property
    def room_id(self) -> str:
        return self.house.room_id

    async def start_run(self, **extra: Any) -> str:
        """Start a run as the agent and return its id."""
        run_id = unique("run")
        ack = await self.agent.call("agent-run-start", {
            "runId": run_id, "agencyId": self.room_id, "agentId": self.agent_id,
            "triggerMessageId": self.trigger_id, **extra})
        assert ack["ok"], ack
        return run_id

    async def emit(self, event: str, run_id: str, **fields: Any) -> dict[str, Any]:
        """Send a run event as the agent and return the ack."""
        ack = await self.agent.call(event, {"runId": run_id, "agencyId": self.room_id,
                                            **fields})
        return ack  # type: ignore[no-any-return]

    async def run(self, run_id: str, as_: Person | None = None) -> dict[str, Any]:
        r = await (as_ or self.house.member).get(f"/api/runs/{run_id}")
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]


async def add_agent(server: ShoalServer, owner: Person, room_id: str) -> tuple[str, str]:
    """A verified bot in the room; returns its id and a session token."""
    r = await owner.post("/api/agents", {"name": unique("agent"), "agencyId": room_id})
    assert r.status_code == 201, r.text
    agent_id, agent_token = r.json()["agent"]["id"], r.json()["agentToken"]
    assert (await owner.post(f"/api/agents/{agent_id}/verify")).status_code == 200
    r = await server.http().post("/api/auth/agent", json={"agentToken": agent_token})
    assert r.status_code == 200, r.text
    return agent_id, r.json()["token"]


@pytest.fixture
async def scene(shoal_server: ShoalServer) -> AsyncIterator[Scene]:
    house = await make_house(shoal_server)
    agent_id, token = await add_agent(shoal_server, house.owner, house.room_id)
    agent = await shoal_server.socket(token)
    await agent.join(house.room_id)
    watcher = await house.member.socket()
    await watcher.join(house.room_id)
    r = await house.member.post(f"/api/agencies/{house.room_id}/messages",
                                {"content": "please fix the build"})
    assert r.status_code == 201, r.text
    yield Scene(shoal_server, house, agent_id, token, agent, watcher, r.json()["id"])
    for sock in (agent, watcher):
        if sock.client.connected:
            await sock.close()
