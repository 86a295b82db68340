"""Sub-agent fixtures: a house with a builtin parent agent on the fake provider, run by the
server's own worker, and ways to read what the room and the records show."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from shoal.llm.fakeserver import FakeLLMServer
from shoal.runtime.worker import Worker
from shoal.store.tables import Activation, Message, utcnow
from shoal.subagents.lifecycle import kill_child
from shoal.subagents.tables import Subagent
from tests.support import House, ShoalServer, make_house
from tests.test_dispatch.conftest import make_bot
from tests.test_runtime.conftest import fake, fake_server  # noqa: F401  (fixtures)

PARENT_MODEL = "openai/fake-parent"
CHILD_MODEL = "openai/fake-child"


@dataclass
class Family:
    """A house, a builtin parent agent whose children run on CHILD_MODEL, and the fake."""

    server: ShoalServer
    house: House
    parent: dict[str, str]
    fake: FakeLLMServer

    @property
    def room_id(self) -> str:
        return self.house.room_id

    async def say(self, content: str) -> dict[str, Any]:
        r = await self.house.member.post(f"/api/agencies/{self.room_id}/messages",
                                         {"content": content})
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    async def children(self) -> list[Subagent]:
        async with self.server.shoal.db.read() as session:
            return list((await session.scalars(select(Subagent).where(
                Subagent.room_id == self.room_id).order_by(Subagent.created_at))).all())

    async def activations(self, bot_id: str | None = None) -> list[Activation]:
        async with self.server.shoal.db.read() as session:
            return list((await session.scalars(select(Activation).where(
                Activation.bot_id == (bot_id or self.parent["id"]))
                .order_by(Activation.created_at, Activation.id))).all())

    async def messages_from(self, sender_id: str) -> list[Message]:
        async with self.server.shoal.db.read() as session:
            return list((await session.scalars(select(Message).where(
                Message.room_id == self.room_id, Message.sender_id == sender_id)
                .order_by(Message.seq))).all())

    def requests(self, model: str) -> list[Any]:
        return [r for r in self.fake.requests if r.model == model.split("/", 1)[1]]

    async def settled(self, count: int | None = None) -> list[Subagent]:
        """Wait until every child ended and each parent follow-up ran."""
        async def done() -> bool:
            kids = await self.children()
            if count is not None and len(kids) < count:
                return False
            if any(k.live for k in kids):
                return False
            acts = await self.activations()
            return all(a.status == "done" for a in acts)
        await wait_until(done)
        return await self.children()


async def wait_until(condition: Callable[[], Awaitable[bool]], timeout: float = 15) -> None:
    """Poll a condition with short pauses until it holds, or fail."""
    async with asyncio.timeout(timeout):
        while not await condition():
            await asyncio.sleep(0.02)


@pytest.fixture
async def family(shoal_server: ShoalServer, fake: FakeLLMServer) -> Family:  # noqa: F811
    house = await make_house(shoal_server)
    parent = await make_bot(shoal_server, house, model={"primary": PARENT_MODEL,
                                                        "fallbacks": []},
                            subagents={"model": CHILD_MODEL, "max_concurrent": 2})
    return Family(shoal_server, house, parent, fake)


async def die(worker: Worker) -> None:
    """What a killed worker process leaves behind: its runs cut off mid-way and nothing
    handed back, so its leases are left to run out (a stopped worker would hand them back)."""
    tasks = [t for t in (worker._loop, *worker._tasks) if t is not None]
    worker._held.clear()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@pytest.fixture
async def workers(family: Family) -> AsyncIterator[tuple[list[Any], Callable[[], Worker]]]:
    """Workers on one clock the test moves ahead (`now[0]`: how far), with the server's
    own worker stopped."""
    shoal = family.server.shoal
    shared = shoal.worker
    await shared.stop()
    await shoal.subagents.stop()  # its sweep would post what the test leaves unposted
    now = [timedelta()]
    made: list[Worker] = []

    def make() -> Worker:
        worker = Worker(shoal.db, shoal.settings, shared.runtimes, chat=shoal.chat,
                        gateway=shoal.gateway, models=lambda: shoal.models,
                        lease=timedelta(seconds=15), clock=lambda: utcnow() + now[0])
        made.append(worker)
        return worker

    yield now, make
    for worker in made:
        await worker.stop()
    # Children the test left hanging must not run on in the tests that follow.
    async with shoal.db.write() as session:
        for kid in await family.children():
            if kid.live:
                await kill_child(session, kid, "the test ended", utcnow(), announce=False)
    await shared.start()
    await shoal.subagents.start_sweeping()
