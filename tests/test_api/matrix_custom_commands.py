"""The permission matrix's rows for a house's own commands: only its owners manage them."""

from __future__ import annotations

from typing import Any

from tests.support import unique
from tests.test_api.matrix import (
    Caller,
    Cell,
    Rest,
    World,
    expect,
    needs,
    new_name,
    private_room_id,
    public_room,
)

BASE = "/api/custom-commands/{agency_id}/commands"


async def _commands(w: World) -> dict[str, dict[str, Any]]:
    r = await w.house.owner.get(BASE.format(agency_id=w.house.room_id))
    assert r.status_code == 200, r.text
    return {c["id"]: c for c in r.json()}


async def new_command(w: World, c: Caller) -> str:
    """A command the owner registered in the house just now."""
    r = await w.house.owner.post(BASE.format(agency_id=w.house.room_id),
                                 {"name": unique("c"), "webhook_url": "https://example.com/c"})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def created_only_if_allowed(cell: Cell) -> None:
    names = {c["name"] for c in (await _commands(cell.world)).values()}
    assert (cell.ids["name"] in names) == cell.allowed


async def described_only_if_allowed(cell: Cell) -> None:
    command = (await _commands(cell.world))[cell.ids["command_id"]]
    assert (command["description"] == cell.ids["name"]) == cell.allowed


async def removed_only_if_allowed(cell: Cell) -> None:
    assert (cell.ids["command_id"] not in await _commands(cell.world)) == cell.allowed


ROOM = {"agency_id": public_room}
ONE = {"agency_id": public_room, "command_id": new_command, "name": new_name}

REST_ROWS = [
    Rest("GET", BASE, needs("owner"), "public room", ids=ROOM),
    Rest("GET", BASE, expect(404, 404, 403, 404, 404), "private room",
         ids={"agency_id": private_room_id}),
    Rest("POST", BASE, needs("owner", 201), ids={**ROOM, "name": new_name},
         body=lambda t: {"name": t["name"], "webhook_url": "https://example.com/n"},
         effect=created_only_if_allowed),
    Rest("PATCH", BASE + "/{command_id}", needs("owner"), ids=ONE,
         body=lambda t: {"description": t["name"]}, effect=described_only_if_allowed),
    Rest("DELETE", BASE + "/{command_id}", needs("owner"), ids=ONE,
         effect=removed_only_if_allowed),
]
