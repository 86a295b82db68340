"""The permission matrix's rows for hooks: house admins manage them; the hook routes take the
hook's key (or a signature), so no one's own token works there, and the key works for anyone."""

from __future__ import annotations

from tests.support import unique
from tests.test_api.matrix import (
    Caller,
    Cell,
    Expect,
    Rest,
    Target,
    World,
    edited_only_if_allowed,
    expect,
    house_id,
    needs,
    new_name,
    posted_only_if_allowed,
    private_room_id,
    public_room,
)

REFUSED = expect(401, 401, 401, 401, 401)  # a person's token is not a hook key
WITH_KEY = expect(201, 201, 201, 201, 201, revoked=201)
_keys: dict[str, str] = {}  # hook id -> its key, as shown when the owner made it


async def new_hook(w: World, c: Caller) -> str:
    """A hook the owner made, posting to the public room."""
    r = await w.house.owner.post(f"/api/houses/{w.house.id}/hooks",
                                 {"name": unique("hook"), "rooms": [w.house.room_id]})
    assert r.status_code == 201, r.text
    _keys[r.json()["id"]] = r.json()["key"]
    return str(r.json()["id"])


async def new_hook_key(w: World, c: Caller) -> str:
    return _keys[await new_hook(w, c)]


async def hook_message(w: World, c: Caller) -> str:
    """A message a new hook posted to the public room; `_keys["last"]` is that hook's key."""
    _keys["last"] = await new_hook_key(w, c)
    r = await w.anon.post("/api/hooks/messages", json={"content": unique("alert ")},
                          headers={"X-Crustocean-Hook-Key": _keys["last"]})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def key_of_that_hook(w: World, c: Caller) -> str:
    return _keys["last"]


async def hook_created_only_if_allowed(cell: Cell) -> None:
    r = await cell.world.house.owner.get(f"/api/houses/{cell.world.house.id}/hooks")
    assert (cell.ids["name"] in {h["name"] for h in r.json()}) == cell.allowed


async def hook_renamed_only_if_allowed(cell: Cell) -> None:
    r = await cell.world.house.owner.get(
        f"/api/houses/{cell.world.house.id}/hooks/{cell.ids['hook_id']}")
    assert (r.json()["name"] == cell.ids["name"]) == cell.allowed


async def old_key_works_only_if_refused(cell: Cell) -> None:
    r = await cell.world.anon.post("/api/hooks/messages", json={"content": "still mine?"},
                                   headers={"X-Crustocean-Hook-Key": _keys[cell.ids["hook_id"]]})
    assert r.status_code == (401 if cell.allowed else 201), r.text


async def hook_revoked_only_if_allowed(cell: Cell) -> None:
    r = await cell.world.house.owner.get(
        f"/api/houses/{cell.world.house.id}/hooks/{cell.ids['hook_id']}")
    assert (r.json()["revoked_at"] is not None) == cell.allowed


HOOK = {"house_id": house_id, "hook_id": new_hook}


def _create(room: Target, case: str, outcome: Expect) -> Rest:
    return Rest("POST", "/api/houses/{house_id}/hooks", outcome, case,
                ids={"house_id": house_id, "agency_id": room, "name": new_name},
                body=lambda t: {"name": t["name"], "rooms": [t["agency_id"]]},
                effect=hook_created_only_if_allowed)


REST_ROWS = [
    Rest("GET", "/api/houses/{house_id}/hooks", needs("admin"), ids={"house_id": house_id}),
    _create(public_room, "a public room", needs("admin", 201)),
    # Owner and admin are not in the member's private room, so for them it does not exist.
    _create(private_room_id, "a private room", expect(400, 400, 403, 403, 404)),
    Rest("GET", "/api/houses/{house_id}/hooks/{hook_id}", needs("admin"), ids=HOOK),
    Rest("PATCH", "/api/houses/{house_id}/hooks/{hook_id}", needs("admin"),
         ids={**HOOK, "name": new_name}, body=lambda t: {"name": t["name"]},
         effect=hook_renamed_only_if_allowed),
    Rest("POST", "/api/houses/{house_id}/hooks/{hook_id}/rotate", needs("admin"), ids=HOOK,
         effect=old_key_works_only_if_refused),
    Rest("DELETE", "/api/houses/{house_id}/hooks/{hook_id}", needs("admin"), ids=HOOK,
         effect=hook_revoked_only_if_allowed),
    Rest("POST", "/api/hooks/messages", REFUSED, "a person's token",
         ids={"name": new_name}, body=lambda t: {"content": t["name"]},
         effect=posted_only_if_allowed),
    Rest("POST", "/api/hooks/messages", WITH_KEY, "the hook's key",
         ids={"name": new_name, "key": new_hook_key}, body=lambda t: {"content": t["name"]},
         token="key", effect=posted_only_if_allowed),
    Rest("PATCH", "/api/hooks/messages/{message_id}", REFUSED, "a person's token",
         ids={"message_id": hook_message, "name": new_name},
         body=lambda t: {"content": t["name"]}, effect=edited_only_if_allowed),
    Rest("PATCH", "/api/hooks/messages/{message_id}", expect(200, 200, 200, 200, 200, 200),
         "the hook's key", ids={"message_id": hook_message, "key": key_of_that_hook,
                                "name": new_name},
         body=lambda t: {"content": t["name"]}, token="key", effect=edited_only_if_allowed),
    *(Rest("POST", f"/api/hooks/{{hook_id}}/{source}", REFUSED, "unsigned",
           ids={"hook_id": new_hook}) for source in ("github", "sentry", "generic")),
]
