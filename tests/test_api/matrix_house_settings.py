"""The permission matrix's rows for a house's settings document."""

from __future__ import annotations

import itertools

from tests.test_api.matrix import (
    Caller,
    Cell,
    Rest,
    World,
    authors_bot,
    house_id,
    needs,
    new_room,
)

# One zone per principal, so a cell sees its own change and not an earlier cell's.
ZONES = itertools.cycle(("Europe/Paris", "Asia/Tokyo", "America/Lima", "Africa/Cairo",
                         "Pacific/Auckland", "Asia/Kolkata"))


async def fresh_zone(w: World, c: Caller) -> str:
    return next(ZONES)


async def zone_set_only_if_allowed(cell: Cell) -> None:
    r = await cell.world.house.owner.get(f"/api/houses/{cell.world.house.id}/settings")
    assert (r.json()["timezone"] == cell.ids["zone"]) == cell.allowed


async def bound_only_if_allowed(cell: Cell) -> None:
    r = await cell.world.author.get(f"/api/agencies/{cell.ids['room']}")
    binding = r.json()["binding"]
    assert (binding is not None and binding["id"] == cell.ids["agent"]) == cell.allowed


HOUSE = {"house_id": house_id}
REST_ROWS = [
    Rest("GET", "/api/houses/{house_id}/settings", needs("guest"), ids=HOUSE),
    Rest("PATCH", "/api/houses/{house_id}/settings", needs("owner"), "timezone",
         ids={**HOUSE, "zone": fresh_zone}, body=lambda t: {"timezone": t["zone"]},
         effect=zone_set_only_if_allowed),
    Rest("PATCH", "/api/houses/{house_id}/settings", needs("admin"), "bindings",
         ids={**HOUSE, "room": new_room, "agent": authors_bot},
         body=lambda t: {"bindings": {t["room"]: t["agent"]}}, effect=bound_only_if_allowed),
]
SOCKET_ROWS: list = []
