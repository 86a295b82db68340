"""Permission matrix rows for webhook subscriptions: house owners and admins manage a room's
subscriptions (in rooms they can see) and the house-wide ones; anyone may list event types."""

from __future__ import annotations

from tests.support import unique
from tests.test_api.matrix import (
    PUBLIC,
    Caller,
    Cell,
    Rest,
    World,
    expect,
    house_id,
    needs,
    new_name,
    new_room,
    private_room_id,
    public_room,
)

BASE = "/api/webhook-subscriptions"
ROOM = BASE + "/{agency_id}"
HOUSE = "/api/houses/{house_id}/webhook-subscriptions"
# Subscriptions made here are off: the matrix's rooms should not send deliveries anywhere.
OFF = {"url": "https://example.com/hook", "events": ["message.created"], "enabled": False}


def _body(ids: dict[str, str]) -> dict[str, object]:
    return {**OFF, "description": ids["name"]}


async def _owners_subscription(w: World, path: str) -> str:
    r = await w.house.owner.post(path, {**OFF, "description": unique("matrix ")})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def room_subscription(w: World, c: Caller) -> str:
    """A subscription the owner made on the house's public room."""
    return await _owners_subscription(w, f"{BASE}/{w.house.room_id}")


async def house_subscription(w: World, c: Caller) -> str:
    """A house-wide subscription the owner made."""
    return await _owners_subscription(w, f"/api/houses/{w.house.id}/webhook-subscriptions")


async def _listed(cell: Cell) -> list[dict[str, object]]:
    room = cell.ids.get("agency_id")
    path = f"{BASE}/{room}" if room else f"/api/houses/{cell.world.house.id}/webhook-subscriptions"
    r = await cell.world.house.owner.get(path)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def created_only_if_allowed(cell: Cell) -> None:
    made = [s for s in await _listed(cell) if s["description"] == cell.ids["name"]]
    assert len(made) == (1 if cell.allowed else 0)
    assert all("secret" not in s for s in await _listed(cell))


async def changed_only_if_allowed(cell: Cell) -> None:
    sub = next(s for s in await _listed(cell) if s["id"] == cell.ids["subscription_id"])
    assert (sub["description"] == cell.ids["name"]) == cell.allowed


async def deleted_only_if_allowed(cell: Cell) -> None:
    ids = {s["id"] for s in await _listed(cell)}
    assert (cell.ids["subscription_id"] not in ids) == cell.allowed


ROOM_IDS = {"agency_id": public_room}
HOUSE_IDS = {"house_id": house_id}

REST_ROWS = [
    Rest("GET", BASE + "/meta/events", PUBLIC),
    Rest("GET", ROOM, needs("admin"), "public", ids=ROOM_IDS),
    Rest("GET", ROOM, expect(404, 404, 403, 404, 404), "private",
         ids={"agency_id": private_room_id}),
    Rest("POST", ROOM, needs("admin", 201), ids={"agency_id": new_room, "name": new_name},
         body=_body, effect=created_only_if_allowed),
    Rest("PATCH", ROOM + "/{subscription_id}", needs("admin"),
         ids={**ROOM_IDS, "subscription_id": room_subscription, "name": new_name},
         body=lambda t: {"description": t["name"]}, effect=changed_only_if_allowed),
    Rest("DELETE", ROOM + "/{subscription_id}", needs("admin"),
         ids={**ROOM_IDS, "subscription_id": room_subscription},
         effect=deleted_only_if_allowed),
    Rest("GET", ROOM + "/{subscription_id}/deliveries", needs("admin"),
         ids={**ROOM_IDS, "subscription_id": room_subscription}),
    Rest("GET", HOUSE, needs("admin"), ids=HOUSE_IDS),
    Rest("POST", HOUSE, needs("admin", 201), ids={**HOUSE_IDS, "name": new_name},
         body=_body, effect=created_only_if_allowed),
    Rest("PATCH", HOUSE + "/{subscription_id}", needs("admin"),
         ids={**HOUSE_IDS, "subscription_id": house_subscription, "name": new_name},
         body=lambda t: {"description": t["name"]}, effect=changed_only_if_allowed),
    Rest("DELETE", HOUSE + "/{subscription_id}", needs("admin"),
         ids={**HOUSE_IDS, "subscription_id": house_subscription},
         effect=deleted_only_if_allowed),
    Rest("GET", HOUSE + "/{subscription_id}/deliveries", needs("admin"),
         ids={**HOUSE_IDS, "subscription_id": house_subscription}),
]
