"""Crew fixtures for crewcore's tests: a house with builtin agents on the fake provider (a
lead, a developer, a reviewer, a secretary), an SDK-style agent with its own token, and ways
to read what the crew records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from shoal.llm.fakeserver import FakeLLMServer
from shoal.store.tables import Activation
from tests.support import House, ShoalServer, make_house, unique
from tests.test_dispatch.conftest import make_bot
from tests.test_runtime.conftest import fake, fake_server  # noqa: F401  (fixtures)
from tests.test_subagents.conftest import wait_until

LEAD_MODEL = "openai/fake-lead"
DEV_MODEL = "openai/fake-dev"
REVIEW_MODEL = "openai/fake-review"
SECRETARY_MODEL = "openai/fake-secretary"


def fake_name(model: str) -> str:
    """The model's name as the fake provider sees it."""
    return model.split("/", 1)[1]


@dataclass
class Team:
    """A house whose room holds four builtin agents, and the fake provider they run on."""

    server: ShoalServer
    house: House
    lead: dict[str, str]
    dev: dict[str, str]
    reviewer: dict[str, str]
    secretary: dict[str, str]
    fake: FakeLLMServer

    @property
    def room_id(self) -> str:
        return self.house.room_id

    async def start(self, by: Any = None, **body: Any) -> dict[str, Any]:
        """Start a crew over REST (as the house member, unless `by`), answering its view."""
        person = by or self.house.member
        r = await person.post(f"/api/agencies/{self.room_id}/crews", {
            "goal": "Ship the login page", "lead": f"@{self.lead['handle']}", **body})
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    async def activations(self, bot_id: str) -> list[Activation]:
        async with self.server.shoal.db.read() as session:
            return list((await session.scalars(select(Activation).where(
                Activation.bot_id == bot_id).order_by(Activation.created_at,
                                                      Activation.id))).all())

    async def settled(self) -> None:
        """Wait until no activation of the team's agents is pending or running, and what
        the crew recorded has been told."""
        agents = [self.lead["id"], self.dev["id"], self.reviewer["id"], self.secretary["id"]]

        async def idle() -> bool:  # one query: a snapshot of all four at once
            async with self.server.shoal.db.read() as session:
                return await session.scalar(select(Activation.id).where(
                    Activation.bot_id.in_(agents),
                    Activation.status.in_(("pending", "running"))).limit(1)) is None
        await wait_until(idle, timeout=30)
        await self.server.shoal.worker.drain()  # the listeners of the last ends ran too
        await self.server.shoal.crew_feed.settle()

    async def agent_client(self, name: str | None = None
                           ) -> tuple[dict[str, Any], httpx.AsyncClient]:
        """A new agent of the house (in its room) with its own token, as an SDK agent has."""
        r = await self.house.owner.post("/api/agents", {"name": name or unique("Agent "),
                                                        "agencyId": self.room_id})
        assert r.status_code == 201, r.text
        agent, token = r.json()["agent"], r.json()["agentToken"]
        assert (await self.house.owner.post(f"/api/agents/{agent['id']}/verify")
                ).status_code == 200
        r = await self.house.owner.get(f"/api/houses/{self.house.id}/members")
        assert r.status_code == 200, r.text
        handle = next(m["handle"] for m in r.json() if m["id"] == agent["id"])
        return {**agent, "handle": handle}, self.server.http(token)


@pytest.fixture
async def team(shoal_server: ShoalServer, fake: FakeLLMServer) -> Team:  # noqa: F811
    house = await make_house(shoal_server)
    lead = await make_bot(shoal_server, house, unique("Lead "),
                          model={"primary": LEAD_MODEL, "fallbacks": []},
                          subagents={"allow_agents": ["*"], "max_concurrent": 2})
    dev = await make_bot(shoal_server, house, unique("Dev "),
                         model={"primary": DEV_MODEL, "fallbacks": []})
    reviewer = await make_bot(shoal_server, house, unique("Reviewer "),
                              model={"primary": REVIEW_MODEL, "fallbacks": []})
    secretary = await make_bot(shoal_server, house, unique("Secretary "),
                               model={"primary": SECRETARY_MODEL, "fallbacks": []})
    return Team(shoal_server, house, lead, dev, reviewer, secretary, fake)
