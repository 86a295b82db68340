"""The permission matrix's rows for binding a room to an agent."""

from __future__ import annotations

from tests.test_api.matrix import Cell, Rest, authors_bot, expect, needs, new_room, private_room_id


async def bound_only_if_allowed(cell: Cell) -> None:
    r = await cell.world.author.get(f"/api/agencies/{cell.ids['agency_id']}")
    binding = r.json()["binding"]
    assert (binding is not None and binding["id"] == cell.ids["agent"]) == cell.allowed


REST_ROWS = [
    Rest("PUT", "/api/agencies/{agency_id}/binding", needs("admin"), "public",
         ids={"agency_id": new_room, "agent": authors_bot},
         body=lambda t: {"agent": t["agent"]}, effect=bound_only_if_allowed),
    # Only `member` is in the private room, and a member may not moderate it.
    Rest("PUT", "/api/agencies/{agency_id}/binding", expect(404, 404, 403, 404, 404),
         "private", ids={"agency_id": private_room_id, "agent": authors_bot},
         body=lambda t: {"agent": t["agent"]}),
]
SOCKET_ROWS: list = []
