"""The permission matrix's rows for a house's MCP servers: only its owners manage them."""

from __future__ import annotations

from typing import Any

from tests.support import unique
from tests.test_api.matrix import Caller, Cell, Rest, World, house_id, needs, new_name

BASE = "/api/houses/{house_id}/mcp-servers"
URL = "https://mcp.invalid/mcp"  # never answers: registering saves it with its error


async def _servers(w: World) -> dict[str, dict[str, Any]]:
    r = await w.house.owner.get(BASE.format(house_id=w.house.id))
    assert r.status_code == 200, r.text
    return {s["id"]: s for s in r.json()}


async def new_server(w: World, c: Caller) -> str:
    """A server the owner registered in the house just now (switched off: never reached)."""
    r = await w.house.owner.post(BASE.format(house_id=w.house.id),
                                 {"name": unique("s"), "url": URL, "enabled": False})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def created_only_if_allowed(cell: Cell) -> None:
    names = {s["name"] for s in (await _servers(cell.world)).values()}
    assert (cell.ids["name"] in names) == cell.allowed


async def renamed_only_if_allowed(cell: Cell) -> None:
    server = (await _servers(cell.world))[cell.ids["server_id"]]
    assert (server["name"] == cell.ids["name"]) == cell.allowed


async def removed_only_if_allowed(cell: Cell) -> None:
    assert (cell.ids["server_id"] not in await _servers(cell.world)) == cell.allowed


HOUSE = {"house_id": house_id}
ONE = {"house_id": house_id, "server_id": new_server, "name": new_name}

REST_ROWS = [
    Rest("GET", BASE, needs("owner"), ids=HOUSE),
    Rest("POST", BASE, needs("owner", 201), ids={**HOUSE, "name": new_name},
         body=lambda t: {"name": t["name"], "url": URL, "enabled": False},
         effect=created_only_if_allowed),
    Rest("PATCH", BASE + "/{server_id}", needs("owner"), ids=ONE,
         body=lambda t: {"name": t["name"]}, effect=renamed_only_if_allowed),
    Rest("DELETE", BASE + "/{server_id}", needs("owner"), ids=ONE,
         effect=removed_only_if_allowed),
]
