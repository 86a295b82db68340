"""The permission matrix's rows for the management views the web app reads: the house registry,
its model choices and keys, renaming a bot, and a bot's tokens."""

from __future__ import annotations

from tests.support import unique
from tests.test_api.matrix import (
    Caller,
    Cell,
    Rest,
    World,
    authors_bot,
    house_id,
    needs,
    new_name,
    old_bot_token_revoked_only_if_allowed,
)

HOUSE = {"house_id": house_id}


async def new_key(w: World, c: Caller) -> str:
    """A key the owner stored for the house."""
    r = await w.house.owner.post(f"/api/houses/{w.house.id}/keys",
                                 {"provider": "openai", "apiKey": f"sk-{unique()}"})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _key_labels(w: World) -> set[str]:
    r = await w.house.owner.get(f"/api/houses/{w.house.id}/keys")
    assert r.status_code == 200, r.text
    return {k["label"] for k in r.json()}


async def registry_shows_the_bot(cell: Cell) -> None:
    if not cell.allowed:
        return
    bot = next(e for e in cell.answer if e["id"] == cell.ids["agent_id"])
    assert bot["kind"] == "bot" and bot["bot"]["runtime"] == "builtin"
    assert bot["bot"]["manageable"] == (cell.caller.name in ("owner", "admin"))
    author = next(e for e in cell.answer if e["id"] == cell.world.author.id)
    assert author["kind"] == "human" and "bot" not in author


async def key_stored_only_if_allowed(cell: Cell) -> None:
    assert (cell.ids["name"] in await _key_labels(cell.world)) == cell.allowed
    if cell.allowed:
        assert "sk-secret" not in str(cell.answer) and cell.answer["hint"].startswith("…")


async def key_removed_only_if_allowed(cell: Cell) -> None:
    r = await cell.world.house.owner.get(f"/api/houses/{cell.world.house.id}/keys")
    assert (cell.ids["key_id"] not in {k["id"] for k in r.json()}) == cell.allowed


async def bot_renamed_only_if_allowed(cell: Cell) -> None:
    r = await cell.world.author.get("/api/agents")
    bot = next(b for b in r.json() if b["id"] == cell.ids["agent_id"])
    assert (bot["display_name"] == cell.ids["name"]) == cell.allowed


REST_ROWS = [
    Rest("GET", "/api/houses/{house_id}/registry", needs("guest"),
         ids={**HOUSE, "agent_id": authors_bot}, effect=registry_shows_the_bot),
    Rest("GET", "/api/houses/{house_id}/models", needs("guest"), ids=HOUSE),
    Rest("GET", "/api/houses/{house_id}/keys", needs("admin"), ids=HOUSE),
    Rest("POST", "/api/houses/{house_id}/keys", needs("owner", 201),
         ids={**HOUSE, "name": new_name},
         body=lambda t: {"provider": "openai", "apiKey": "sk-secret-1234567890",
                         "label": t["name"]},
         effect=key_stored_only_if_allowed),
    Rest("DELETE", "/api/houses/{house_id}/keys/{key_id}", needs("owner"),
         ids={**HOUSE, "key_id": new_key}, effect=key_removed_only_if_allowed),
    Rest("PATCH", "/api/agents/{agent_id}", needs("admin"), "another's bot",
         ids={"agent_id": authors_bot, "name": new_name}, body=lambda t: {"name": t["name"]},
         effect=bot_renamed_only_if_allowed),
    Rest("GET", "/api/agents/{agent_id}/tokens", needs("admin"), "another's bot",
         ids={"agent_id": authors_bot}),
    Rest("DELETE", "/api/agents/{agent_id}/tokens", needs("admin"), "another's bot",
         ids={"agent_id": authors_bot}, effect=old_bot_token_revoked_only_if_allowed),
]
