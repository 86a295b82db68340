"""Rooms bound to an agent, set and shown over REST: who may bind, what may be bound, and
what the room's views say."""

from __future__ import annotations

from typing import Any

from shoal.rooms.bindings import house_bindings
from tests.support import House, Person, ShoalServer, make_house, unique


async def new_agent(house: House, by: Person | None = None) -> dict[str, Any]:
    """An agent of the house, in none of its rooms, with its @handle."""
    r = await (by or house.owner).post("/api/agents", {"name": unique("Desk "),
                                                       "houseId": house.id})
    assert r.status_code == 201, r.text
    agent = r.json()["agent"]
    members = (await house.owner.get(f"/api/houses/{house.id}/members")).json()
    agent["handle"] = next(m["handle"] for m in members if m["id"] == agent["id"])
    return agent  # type: ignore[no-any-return]


async def bind(person: Person, room_id: str, agent: str | None) -> Any:
    return await person.http.put(f"/api/agencies/{room_id}/binding", json={"agent": agent})


async def test_an_admin_binds_a_room_and_every_view_shows_it(shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    agent = await new_agent(house)
    room = house.room_id
    watcher = await house.member.socket()
    await watcher.join(room)
    r = await bind(house.admin, room, f"@{agent['handle']}")
    assert r.status_code == 200, r.text
    shown = {"id": agent["id"], "username": agent["username"], "handle": agent["handle"]}
    assert r.json()["binding"] == shown
    assert (await house.guest.get(f"/api/agencies/{room}")).json()["binding"] == shown
    listed = (await house.member.get("/api/agencies", params={"houseId": house.id})).json()
    assert next(v for v in listed if v["id"] == room)["binding"] == shown
    in_house = (await house.member.get(f"/api/houses/{house.id}/agencies")).json()
    assert next(v for v in in_house if v["id"] == room)["binding"] == shown
    # The agent was in no room: binding made it a member, so an SDK agent hears the room.
    members = (await house.member.get(f"/api/agencies/{room}/members")).json()
    assert agent["id"] in {m["id"] for m in members}
    [update] = await watcher.wait_for("agency-updated")
    assert update["id"] == room and update["binding"] == shown
    async with shoal_server.shoal.db.read() as session:
        assert await house_bindings(session, house.id) == {room: agent["username"]}

    # By username or id too; null unbinds.
    other = await new_agent(house)
    r = await bind(house.owner, room, other["id"])
    assert r.json()["binding"]["username"] == other["username"]
    r = await bind(house.owner, room, None)
    assert r.status_code == 200 and r.json()["binding"] is None
    assert (await house.member.get(f"/api/agencies/{room}")).json()["binding"] is None
    await watcher.close()


async def test_only_room_admins_may_bind(shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    agent = await new_agent(house)
    for person in (house.member, house.guest):
        r = await bind(person, house.room_id, agent["username"])
        assert r.status_code == 403
        assert "may not moderate" in r.json()["error"]
    outsider = await shoal_server.register()
    assert (await bind(outsider, house.room_id, agent["username"])).status_code == 404
    assert (await house.member.get(f"/api/agencies/{house.room_id}")).json()["binding"] is None


async def test_binding_what_is_not_an_agent_of_the_house_is_refused(
    shoal_server: ShoalServer,
) -> None:
    house = await make_house(shoal_server)
    room = house.room_id
    r = await bind(house.admin, room, "@nobody-here")
    assert r.status_code == 400
    assert r.json()["error"].startswith("no agent in this house is @nobody-here")
    person = (await house.owner.get(f"/api/houses/{house.id}/members")).json()
    member_handle = next(m["handle"] for m in person if m["id"] == house.member.id)
    r = await bind(house.admin, room, member_handle)
    assert r.status_code == 400
    assert r.json()["error"] == (f"@{member_handle} is a person; only an agent can be bound "
                                 "to a room")
    elsewhere = await new_agent(await make_house(shoal_server))
    for ref in (elsewhere["id"], elsewhere["username"]):
        r = await bind(house.admin, room, ref)
        assert r.status_code == 400 and "no agent in this house" in r.json()["error"]
    r = await house.admin.http.put(f"/api/agencies/{room}/binding", json={})
    assert r.status_code == 400 and "agent" in r.json()["error"]
    agent = await new_agent(house)
    dm = (await house.owner.post(f"/api/dm/{agent['id']}")).json()["agency"]["id"]
    r = await bind(house.owner, dm, agent["username"])
    assert r.status_code == 400 and r.json()["error"].startswith("a DM cannot be bound")
    assert (await house.member.get(f"/api/agencies/{room}")).json()["binding"] is None


async def test_a_deleted_or_departed_agent_leaves_no_binding(shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    deleted, kicked = await new_agent(house), await new_agent(house)
    r = await house.owner.post("/api/agencies", {"name": unique("room"), "houseId": house.id})
    second_room = r.json()["id"]
    assert (await bind(house.admin, house.room_id, deleted["username"])).status_code == 200
    assert (await bind(house.admin, second_room, kicked["username"])).status_code == 200
    assert (await house.owner.delete(f"/api/agents/{deleted['id']}")).status_code == 200
    assert (await house.member.get(f"/api/agencies/{house.room_id}")).json()["binding"] is None
    r = await house.owner.delete(f"/api/houses/{house.id}/members/{kicked['id']}")
    assert r.status_code == 200
    assert (await house.member.get(f"/api/agencies/{second_room}")).json()["binding"] is None
    async with shoal_server.shoal.db.read() as session:
        assert await house_bindings(session, house.id) == {}
