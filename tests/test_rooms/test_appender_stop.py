"""The group commit loses nothing it accepted: a stopping process stores what is queued
before it lets go, and a connection the database dropped costs the next poster nothing."""

from __future__ import annotations

import asyncio
import os

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from shoal.rooms.messages import Draft, Sender
from tests.support import ShoalServer, make_house
from tests.test_rooms.test_poison import shoal_user


async def test_stopping_the_group_commit_stores_what_is_queued_first(
    shoal_server: ShoalServer,
) -> None:
    house = await make_house(shoal_server)
    appender = shoal_server.shoal.chat.appender
    user = await shoal_user(shoal_server, house.member.id)
    posts = [asyncio.create_task(
        appender.append(house.room_id, Draft(Sender(user), f"post {n}"), check=True))
        for n in range(300)]  # more than one batch
    await asyncio.sleep(0)  # every post is queued
    await appender.stop()
    answers = await asyncio.gather(*posts)
    assert [a["content"] for a in answers] == [f"post {n}" for n in range(300)]
    stored: list[str] = []
    while len(stored) < 300:
        r = await house.member.get(f"/api/agencies/{house.room_id}/messages",
                                   params={"after_seq": len(stored), "limit": 100})
        assert r.status_code == 200 and r.json(), r.text
        stored += [m["content"] for m in r.json()]
    assert stored == [f"post {n}" for n in range(300)]
    # The next post starts the group commit again.
    again = await appender.append(house.room_id, Draft(Sender(user), "after"), check=True)
    assert again["content"] == "after"


@pytest.mark.skipif(not os.environ.get("SHOAL_TEST_DATABASE_URL"),
                    reason="set SHOAL_TEST_DATABASE_URL to run")
@pytest.mark.parametrize("shoal_server", ["postgres"], indirect=True)
async def test_a_post_right_after_the_database_dropped_its_connections_is_stored(
    shoal_server: ShoalServer,
) -> None:
    # The group commit keeps its connection between transactions; one the database dropped
    # (a restart, a failover) must cost the next poster nothing.
    house = await make_house(shoal_server)
    for n in range(2):
        r = await house.member.post(f"/api/agencies/{house.room_id}/messages",
                                    {"content": f"before the drop {n}"})
        assert r.status_code == 201, r.text
        engine = create_async_engine(shoal_server.shoal.db.url)
        async with engine.connect() as connection:
            dropped = (await connection.execute(sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"))).scalar()
        await engine.dispose()
        assert dropped
        r = await house.member.post(f"/api/agencies/{house.room_id}/messages",
                                    {"content": f"after the drop {n}"})
        assert r.status_code == 201, r.text
    r = await house.member.get(f"/api/agencies/{house.room_id}/messages")
    assert [m["content"] for m in sorted(r.json(), key=lambda m: m["seq"])] == [
        "before the drop 0", "after the drop 0", "before the drop 1", "after the drop 1"]
