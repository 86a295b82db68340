"""Several Shoal processes sharing a database and Redis act as one server."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from shoal.core import Shoal
from shoal.realtime.gateway import announce_revoked
from shoal.scheduler.service import set_due
from shoal.sdk import Agent
from tests.support import House, ShoalServer, make_house, make_settings, serve, unique

REDIS_URL = os.environ.get("SHOAL_TEST_REDIS_URL")
pytestmark = pytest.mark.skipif(not REDIS_URL, reason="set SHOAL_TEST_REDIS_URL to run")


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[tuple[ShoalServer, ShoalServer]]:
    """Two servers on one database (PostgreSQL when configured) and one Redis."""
    backend = "postgres" if os.environ.get("SHOAL_TEST_DATABASE_URL") else "sqlite"
    prefix = unique("shoal-test-")
    settings = [make_settings(tmp_path, backend, redis_url=REDIS_URL, redis_prefix=prefix)
                for _ in range(2)]
    async for first in serve(settings[0]):
        await first.bootstrap()
        async for second in serve(settings[1]):
            await second.bootstrap()
            yield first, second


async def test_a_message_posted_on_one_process_reaches_sockets_on_another(
    cluster: tuple[ShoalServer, ShoalServer],
) -> None:
    first, second = cluster
    house = await make_house(first)
    listener = await first.socket(house.member.token)
    await listener.join(house.room_id)
    # The owner talks to the other process with the same token.
    poster = await second.socket(house.owner.token)
    await poster.join(house.room_id)
    for i in range(5):
        ack = await poster.call("send-message", {"agencyId": house.room_id,
                                                 "content": f"across {i}"})
        assert ack["ok"]
    messages = await listener.wait_for("message", 5)
    assert [m["content"] for m in messages] == [f"across {i}" for i in range(5)]
    assert [m["seq"] for m in messages] == sorted(m["seq"] for m in messages)
    await listener.close()
    await poster.close()


async def test_revoking_a_token_closes_its_sockets_on_every_process(
    cluster: tuple[ShoalServer, ShoalServer],
) -> None:
    first, second = cluster
    person = await first.register()
    r = await person.post("/api/auth/tokens", {"name": "two places"})
    token, token_id = r.json()["token"], r.json()["id"]
    on_second = await second.socket(token)
    closed = asyncio.Event()
    on_second.client.on("disconnect", lambda *a: closed.set())
    assert (await person.delete(f"/api/auth/tokens/{token_id}")).status_code == 200
    await asyncio.wait_for(closed.wait(), 5)
    # An announcement from outside any server (the CLI's path) works the same way.
    r = await person.post("/api/auth/tokens", {"name": "cli"})
    on_first = await first.socket(r.json()["token"])
    closed.clear()
    on_first.client.on("disconnect", lambda *a: closed.set())
    await announce_revoked(REDIS_URL or "", first.shoal.settings.redis_prefix, [r.json()["id"]])
    await asyncio.wait_for(closed.wait(), 5)


async def test_an_api_process_and_a_worker_process_split_the_work(tmp_path: Path) -> None:
    # A database of its own: a worker claims any runnable activation, including other tests'.
    backend = "sqlite"
    prefix = unique("shoal-test-")
    api_settings = make_settings(tmp_path, backend, redis_url=REDIS_URL, redis_prefix=prefix,
                                 role="api")
    worker_settings = make_settings(tmp_path, backend, redis_url=REDIS_URL, redis_prefix=prefix,
                                    role="worker")
    async for api in serve(api_settings):
        await api.bootstrap()
        worker = Shoal(worker_settings)
        await worker.start()
        try:
            house = await make_house(api)
            r = await house.owner.post("/api/agents", {"name": "Splitter",
                                                       "agencyId": house.room_id})
            bot = r.json()["agent"]
            await house.owner.post(f"/api/agents/{bot['id']}/verify")
            await house.owner.patch(f"/api/agents/{bot['id']}/config",
                                    {"model": {"primary": "offline", "fallbacks": []}})
            listener = await api.socket(house.member.token)
            await listener.join(house.room_id)
            await house.member.post(f"/api/agencies/{house.room_id}/messages",
                                    {"content": f"@{bot['username']} are you there?"})
            messages = await listener.wait_for("message", 2, timeout=15)
            assert messages[1]["sender_id"] == bot["id"]
            assert "not a real language model" in messages[1]["content"]
            assert api.shoal.worker._loop is None  # the api process never claimed work
            await listener.close()
        finally:
            await worker.stop()


async def _outcome_of_a_mention(house: House, bot: dict[str, Any], worker: Shoal
                                ) -> tuple[str, str | None]:
    """Mention the bot in the house's room; (status, outcome) of the activation it made."""
    r = await house.member.post(f"/api/agencies/{house.room_id}/messages",
                                {"content": f"@{bot['username']} hello"})
    await worker.worker.drain()
    rows = (await house.member.get(f"/api/agents/{bot['id']}/activations",
                                   params={"triggerId": r.json()["id"]})).json()
    return rows[0]["status"], rows[0]["outcome"]


async def test_a_worker_process_sees_an_sdk_bot_in_a_room_of_the_api_process(
    tmp_path: Path,
) -> None:
    """`delivered` needs a socket of the bot in the room; the worker that records it is not
    the process holding the socket, so the processes share who is where through Redis."""
    prefix = unique("shoal-test-")
    api_settings = make_settings(tmp_path, "sqlite", redis_url=REDIS_URL, redis_prefix=prefix,
                                 role="api")
    worker_settings = make_settings(tmp_path, "sqlite", redis_url=REDIS_URL, redis_prefix=prefix,
                                    role="worker")
    async for api in serve(api_settings):
        await api.bootstrap()
        worker = Shoal(worker_settings)
        await worker.start()
        try:
            house = await make_house(api)
            r = await house.owner.post("/api/agents", {"name": "Remote", "houseId": house.id})
            bot, token = r.json()["agent"], r.json()["agentToken"]
            await house.owner.post(f"/api/agents/{bot['id']}/verify")
            await house.owner.patch(f"/api/agents/{bot['id']}/config", {"runtime": "sdk"})

            watcher = await api.socket(house.member.token)
            await watcher.join(house.room_id)
            async with Agent(api.url, token) as agent:
                await agent.join_all()
                assert await _outcome_of_a_mention(house, bot, worker) == ("done", "delivered")
            [*_, gone] = await watcher.wait_for("member-presence", 2)
            assert (gone["userId"], gone["online"]) == (bot["id"], False)
            assert await _outcome_of_a_mention(house, bot, worker) == ("waiting", None)
            await watcher.close()
        finally:
            await worker.stop()


async def test_a_scheduler_process_hears_of_new_schedules_and_fires_them(tmp_path: Path
                                                                         ) -> None:
    # A database of its own: the scheduler would claim other tests' due rows too.
    prefix = unique("shoal-test-")
    api_settings = make_settings(tmp_path, "sqlite", redis_url=REDIS_URL, redis_prefix=prefix,
                                 role="api")
    scheduler_settings = make_settings(tmp_path, "sqlite", redis_url=REDIS_URL,
                                       redis_prefix=prefix, role="scheduler")
    async for api in serve(api_settings):
        await api.bootstrap()
        scheduler = Shoal(scheduler_settings)
        await scheduler.start()
        try:
            house = await make_house(api)
            r = await house.owner.post("/api/agents", {"name": "Beater",
                                                       "agencyId": house.room_id})
            bot = r.json()["agent"]
            r = await house.owner.post(f"/api/agencies/{house.room_id}/heartbeats",
                                       {"agent": bot["id"], "interval": "1h"})
            assert r.status_code == 201, r.text
            listener = await api.socket(house.member.token)
            await listener.join(house.room_id)
            # Bring the beat forward to a second from now, as if an hour had passed, and tell
            # the schedulers the way every schedule change does: the scheduler process is
            # asleep until its earliest due time and only Redis can wake it.
            async with api.shoal.db.write() as session:
                await set_due(session, "heartbeat", r.json()["id"],
                              api.shoal.scheduler.clock() + timedelta(seconds=1))
            api.shoal.scheduler.wake()
            [beat] = await listener.wait_for("message", 1, timeout=10)
            assert beat["metadata"]["heartbeat"] is True
            assert beat["content"].startswith(f"@{bot['username']} ")
            assert api.shoal.scheduler._tasks == []  # the api process never ran a scheduler
            await listener.close()
        finally:
            await scheduler.stop()
