"""A stopping process stores the messages it already accepted before it lets go."""

from __future__ import annotations

import asyncio

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
