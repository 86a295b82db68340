"""Nothing leaks across rooms: what was said or saved in a DM or a private room never reaches
a public room's search, by words or by meaning, for agents or for people."""

from __future__ import annotations

import pytest

from shoal.tools.base import ToolError
from tests.test_memory.conftest import World
from tests.test_memory.test_search import found

SECRET_ROOM = "The zanzibar acquisition closes on the ninth"
SECRET_DM = "My kumquat allergy is getting worse"
PUBLIC = "The kumquat zanzibar picnic is public knowledge"


async def leak_world(world: World) -> dict[str, str]:
    """Secrets in the private room and the DM (history and notes), and a public message."""
    await world.say(world.private, SECRET_ROOM)
    await world.say(world.dm, SECRET_DM)
    ids = {}
    for room, scope, text in ((world.private, "agent", "zanzibar note kept by the agent"),
                              (world.private, "room", "zanzibar note of the private room"),
                              (world.dm, "agent", "kumquat note from the DM")):
        saved = await world.tool("memory_save", room, text=text, scope=scope)
        ids[f"{room}:{scope}"] = saved.split()[2]
    await world.say(world.other_public, PUBLIC)
    await world.indexed()
    return ids


async def test_an_agent_in_a_public_room_never_finds_private_or_dm_content(world: World
                                                                           ) -> None:
    ids = await leak_world(world)
    for query in ("zanzibar acquisition", "kumquat allergy", "zanzibar note", "kumquat note",
                  "acquisitions closing", "allergic"):
        for sources in (["memory", "rooms"], ["sessions"], ["memory"]):
            answer = await world.tool("memory_search", world.public, query=query,
                                      sources=sources, min_score=0, max_results=50)
            assert set(found(answer)) <= {PUBLIC}, answer
    for note_id in ids.values():
        with pytest.raises(ToolError, match="no note"):
            await world.tool("memory_get", world.public, id=note_id)
        with pytest.raises(ToolError, match="no note"):
            await world.tool("memory_forget", world.public, id=note_id)
    # What every reader of the public room can read is offered: another public room.
    answer = await world.tool("memory_search", world.public, query="zanzibar picnic")
    assert "public knowledge" in answer


async def test_each_private_place_keeps_its_own_content(world: World) -> None:
    ids = await leak_world(world)
    here = await world.tool("memory_search", world.private, query="zanzibar", min_score=0,
                            max_results=50)
    assert "acquisition closes" in here and "note kept by the agent" in here
    assert "note of the private room" in here and "public knowledge" in here
    assert "kumquat allergy" not in here and "from the DM" not in here  # the DM stays there
    dm = await world.tool("memory_search", world.dm, query="kumquat", min_score=0)
    assert "allergy" in dm and "from the DM" in dm and "acquisition" not in dm
    got = await world.tool("memory_get", world.dm, id=ids[f"{world.dm}:agent"])
    assert "kumquat note" in got


async def test_a_private_room_cannot_publish_a_house_note(world: World) -> None:
    with pytest.raises(ToolError, match="public room"):
        await world.tool("memory_save", world.private, text="zanzibar for all", scope="house")
    with pytest.raises(ToolError, match="public room"):
        await world.tool("memory_save", world.dm, text="kumquat for all", scope="house")
    saved = await world.tool("memory_save", world.public, text="The office wifi is kelp-42",
                             scope="house")
    assert "(house)" in saved
    # A house note is read by the house's agents wherever they work.
    assert "kelp-42" in await world.tool("memory_search", world.dm, query="office wifi")


async def test_people_never_find_rooms_they_cannot_read(world: World) -> None:
    await leak_world(world)
    house = world.house
    for person in (house.owner, house.admin, house.guest):
        for q in ("zanzibar", "kumquat"):
            r = await person.get("/api/search", params={"q": q})
            assert r.status_code == 200, r.text
            texts = [x["content"] for x in r.json()["results"]]
            assert texts == [PUBLIC], texts
        r = await person.get("/api/search", params={"q": "zanzibar", "roomId": world.private})
        assert r.status_code == 404
    r = await house.member.get("/api/search", params={"q": "zanzibar"})
    assert {SECRET_ROOM, PUBLIC} <= {x["content"] for x in r.json()["results"]}
    r = await house.member.get("/api/search", params={"q": "kumquat", "roomId": world.dm})
    results = r.json()["results"]  # the member's message, and maybe the agent's answer
    assert SECRET_DM in [x["content"] for x in results]
    assert {x["roomId"] for x in results} == {world.dm}
    # The meaning side keeps to readable rooms too.
    r = await house.owner.get("/api/search", params={"q": "acquisitions allergic"})
    assert all(x["roomId"] not in (world.private, world.dm) for x in r.json()["results"])


async def test_an_agents_memory_is_for_its_owner_and_admins_and_only_what_they_read(
        world: World) -> None:
    await leak_world(world)
    await world.tool("memory_save", world.public, text="Standups move to 9:30", scope="agent")
    house = world.house
    mine = await house.member.get(f"/api/agents/{world.bot_id}/memory")  # the owner
    assert mine.status_code == 200
    texts = {n["text"] for n in mine.json()["notes"]}
    assert {"Standups move to 9:30", "zanzibar note kept by the agent",
            "kumquat note from the DM"} <= texts
    admin = await house.admin.get(f"/api/agents/{world.bot_id}/memory")
    assert [n["text"] for n in admin.json()["notes"]] == ["Standups move to 9:30"]
    found = await house.admin.get(f"/api/agents/{world.bot_id}/memory",
                                  params={"q": "zanzibar note"})
    assert found.json()["notes"] == []
    assert (await house.guest.get(f"/api/agents/{world.bot_id}/memory")).status_code == 403
    outsider = await world.server.register()
    assert (await outsider.get(f"/api/agents/{world.bot_id}/memory")).status_code == 404
    note = next(n for n in mine.json()["notes"] if n["text"] == "kumquat note from the DM")
    r = await house.admin.delete(f"/api/agents/{world.bot_id}/memory/{note['id']}")
    assert r.status_code == 404  # the admin cannot read the DM, so cannot forget from it
    r = await house.member.delete(f"/api/agents/{world.bot_id}/memory/{note['id']}")
    assert r.status_code == 204
    after = await house.member.get(f"/api/agents/{world.bot_id}/memory")
    assert "kumquat note from the DM" not in {n["text"] for n in after.json()["notes"]}
