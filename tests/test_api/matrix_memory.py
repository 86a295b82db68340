"""The permission matrix's rows for search and agents' memory: anyone searches what they can
read (a room they cannot read is not found); an agent's memory is for its owner and admins."""

from __future__ import annotations

from tests.test_api.matrix import (
    Caller,
    Cell,
    Rest,
    World,
    anyone,
    authors_bot,
    expect,
    needs,
    private_room,
    private_room_id,
)


async def no_note(w: World, c: Caller) -> str:
    return "no-such-note"


async def private_room_only_for_its_member(cell: Cell) -> None:
    if not cell.allowed:
        return
    rooms = {r["roomId"] for r in cell.answer["results"]}
    assert (cell.world.private_id in rooms) <= (cell.caller.name == "member")


REST_ROWS = [
    Rest("GET", "/api/search", anyone(), params=lambda t: {"q": "hello"},
         effect=private_room_only_for_its_member),
    Rest("GET", "/api/search", private_room(), "in the private room",
         ids={"room": private_room_id}, params=lambda t: {"q": "hello", "roomId": t["room"]}),
    Rest("GET", "/api/agents/{agent_id}/memory", needs("admin"), "another's bot",
         ids={"agent_id": authors_bot}),
    Rest("DELETE", "/api/agents/{agent_id}/memory/{note_id}", expect(404, 404, 403, 403, 404),
         "another's bot, no such note", ids={"agent_id": authors_bot, "note_id": no_note}),
]