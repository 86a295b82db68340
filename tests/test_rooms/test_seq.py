"""A group commit spanning many rooms gives each room's messages its own consecutive seqs."""

from __future__ import annotations

import asyncio

from tests.support import ShoalServer, make_house, unique


async def test_posts_to_many_rooms_at_once_keep_each_rooms_seq_consecutive(
    shoal_server: ShoalServer,
) -> None:
    house = await make_house(shoal_server)
    rooms = [house.room_id]
    for _ in range(4):
        r = await house.owner.post("/api/agencies", {"name": unique("room"), "houseId": house.id})
        assert r.status_code == 201, r.text
        rooms.append(r.json()["id"])
    chat = shoal_server.shoal.chat
    # Shoal's own posts (as heartbeats and hooks make them), queued together so batches
    # span every room.
    posted = await asyncio.gather(*(chat.post_system(rooms[n % 5], f"beat {n}")
                                    for n in range(100)))
    assert len({(m["agencyId"], m["seq"]) for m in posted}) == 100
    for room_id in rooms:
        r = await house.owner.get(f"/api/agencies/{room_id}/messages",
                                  params={"after_seq": 0, "limit": 100})
        assert r.status_code == 200, r.text
        assert [m["seq"] for m in r.json()] == list(range(1, 21))
        assert [m["content"] for m in r.json()] == [
            f"beat {n}" for n in range(100) if rooms[n % 5] == room_id]
        r = await house.owner.get(f"/api/agencies/{room_id}")
        assert r.status_code == 200 and r.json()["last_seq"] == 20, r.text
