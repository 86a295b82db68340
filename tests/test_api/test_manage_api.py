"""The management views the web app reads: registry, model choices, house keys, renaming a bot,
a bot's tokens."""

from __future__ import annotations

from shoal.store.tables import Activation
from tests.support import ShoalServer, make_house, unique


async def test_registry_lists_people_and_bots_with_runtime(shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    r = await house.member.post("/api/agents", {"name": unique("Hook Bot"), "houseId": house.id})
    bot_id = r.json()["agent"]["id"]
    r = await house.member.patch(f"/api/agents/{bot_id}/config",
                                 {"runtime": "sdk", "description": "listens"})
    assert r.status_code == 200, r.text

    r = await house.guest.get(f"/api/houses/{house.id}/registry")
    assert r.status_code == 200, r.text
    entries = {e["id"]: e for e in r.json()}
    bot = entries[bot_id]
    assert bot["kind"] == "bot" and bot["role"] == "member"
    assert bot["bot"]["runtime"] == "sdk" and bot["bot"]["description"] == "listens"
    assert bot["bot"]["status"] == "unverified" and bot["bot"]["manageable"] is False
    assert entries[house.admin.id]["role"] == "admin" and "bot" not in entries[house.admin.id]
    mine = {e["id"]: e for e in (await house.member.get(
        f"/api/houses/{house.id}/registry")).json()}
    assert mine[bot_id]["bot"]["manageable"] is True


async def test_models_are_the_house_allowlist_or_the_catalog(shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    r = await house.member.get(f"/api/houses/{house.id}/models")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["allowlist"] is False
    refs = {m["ref"]: m["aliases"] for m in body["models"]}
    assert refs["offline/shoal-offline"] == ["offline"] and "openai/gpt-5" in refs
    assert body["default"]["primary"] == "offline"

    r = await house.owner.patch(f"/api/houses/{house.id}/settings",
                                {"models": {"offline": {"alias": "cheap"}}})
    assert r.status_code == 200, r.text
    body = (await house.member.get(f"/api/houses/{house.id}/models")).json()
    assert body["allowlist"] is True
    assert body["models"] == [{"ref": "offline/shoal-offline", "aliases": ["cheap"]}]


async def test_house_keys_are_masked_scoped_and_used(shoal_server: ShoalServer) -> None:
    house, other = await make_house(shoal_server), await make_house(shoal_server)
    secret = f"sk-{unique()}-tail"
    r = await house.owner.post(f"/api/houses/{house.id}/keys",
                               {"provider": "OpenAI", "apiKey": secret, "label": "team"})
    assert r.status_code == 201, r.text
    key = r.json()
    assert key["provider"] == "openai" and key["hint"] == "…tail" and secret not in r.text
    listed = (await house.admin.get(f"/api/houses/{house.id}/keys")).json()
    assert [k["id"] for k in listed] == [key["id"]] and secret not in str(listed)
    assert (await other.owner.get(f"/api/houses/{other.id}/keys")).json() == []
    router = shoal_server.shoal.models
    spec = router.catalog.provider("openai")
    assert spec is not None
    used = await router.keys.profiles(spec, house.id)
    assert [p.api_key for p in used] == [secret]

    r = await house.owner.post(f"/api/houses/{house.id}/keys",
                               {"provider": "nowhere", "apiKey": "sk-1"})
    assert r.status_code == 400 and "known providers" in r.json()["error"]
    r = await house.owner.post(f"/api/houses/{house.id}/keys",
                               {"provider": "openai", "apiKey": "two words"})
    assert r.status_code == 400
    r = await other.owner.delete(f"/api/houses/{other.id}/keys/{key['id']}")
    assert r.status_code == 404
    r = await house.owner.delete(f"/api/houses/{house.id}/keys/{key['id']}")
    assert r.status_code == 200
    assert (await house.owner.get(f"/api/houses/{house.id}/keys")).json() == []
    assert secret not in {p.api_key for p in await router.keys.profiles(spec, house.id)}


async def test_renaming_a_bot_keeps_its_handle(shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    r = await house.member.post("/api/agents", {"name": unique("Scout"), "houseId": house.id})
    bot = r.json()["agent"]
    r = await house.member.patch(f"/api/agents/{bot['id']}", {"name": "  Head Scout "})
    assert r.status_code == 200, r.text
    assert r.json()["agent"]["display_name"] == "Head Scout"
    members = (await house.guest.get(f"/api/houses/{house.id}/members")).json()
    entry = next(m for m in members if m["id"] == bot["id"])
    assert entry["display_name"] == "Head Scout" and entry["handle"] == bot["username"]
    r = await house.member.patch(f"/api/agents/{bot['id']}", {"name": "   "})
    assert r.status_code == 400


async def test_revoking_a_bots_tokens_locks_it_out_until_a_new_one(
    shoal_server: ShoalServer
) -> None:
    house = await make_house(shoal_server)
    r = await house.member.post("/api/agents", {"name": unique("Locked"), "houseId": house.id})
    bot_id, token = r.json()["agent"]["id"], r.json()["agentToken"]
    assert (await house.member.post(f"/api/agents/{bot_id}/verify")).status_code == 200
    anon = shoal_server.http()
    assert (await anon.post("/api/auth/agent", json={"agentToken": token})).status_code == 200
    tokens = (await house.admin.get(f"/api/agents/{bot_id}/tokens")).json()
    assert {t["kind"] for t in tokens} == {"bot", "agent"}
    assert all(t["revoked_at"] is None for t in tokens) and token not in str(tokens)

    r = await house.admin.delete(f"/api/agents/{bot_id}/tokens")
    assert r.json() == {"ok": True, "revoked": 2}
    assert (await anon.post("/api/auth/agent", json={"agentToken": token})).status_code == 401
    tokens = (await house.member.get(f"/api/agents/{bot_id}/tokens")).json()
    assert all(t["revoked_at"] is not None for t in tokens)
    r = await house.member.post(f"/api/agents/{bot_id}/tokens")
    fresh = r.json()["agentToken"]
    assert (await anon.post("/api/auth/agent", json={"agentToken": fresh})).status_code == 200


async def test_activations_filter_by_outcome(shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    r = await house.owner.post("/api/agents", {"name": unique("bot"), "houseId": house.id})
    bot_id = r.json()["agent"]["id"]
    rows = {}
    async with shoal_server.shoal.db.write() as session:
        for outcome in ("replied", "skipped", "error", None):
            row = Activation(bot_id=bot_id, house_id=house.id, room_id=house.room_id,
                             trigger_message_id=unique("m"), trigger_kind="mention",
                             status="pending" if outcome is None else "done", outcome=outcome)
            session.add(row)
            await session.flush()
            rows[outcome or "pending"] = row.id
    for outcome, row_id in rows.items():
        r = await house.guest.get(f"/api/agents/{bot_id}/activations",
                                  params={"outcome": outcome})
        assert r.status_code == 200, r.text
        assert [a["id"] for a in r.json()] == [row_id]
    r = await house.guest.get(f"/api/agents/{bot_id}/activations", params={"outcome": "won"})
    assert r.status_code == 400 and "outcome must be one of" in r.json()["error"]
