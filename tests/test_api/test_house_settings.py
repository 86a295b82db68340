"""House-wide agent settings: the interaction budget, set by owners, shown to members."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import ShoalServer, make_house, unique
from tests.test_rooms.test_bindings import new_agent


async def test_owners_set_the_interaction_budget_and_null_restores_the_default(
    shoal_server: ShoalServer,
) -> None:
    house = await make_house(shoal_server)
    route = f"/api/houses/{house.id}"
    assert (await house.member.get(route)).json()["interaction_budget"] == 20
    r = await house.owner.patch(route, {"interaction_budget": 5})
    assert r.status_code == 200, r.text
    assert r.json()["interaction_budget"] == 5
    assert (await house.member.get(route)).json()["interaction_budget"] == 5
    # Renaming leaves the budget alone; admins may not change it.
    r = await house.owner.patch(route, {"name": unique("renamed")})
    assert r.json()["interaction_budget"] == 5
    r = await house.admin.patch(route, {"interaction_budget": 50})
    assert r.status_code == 403
    r = await house.owner.patch(route, {"interaction_budget": None})
    assert r.status_code == 200 and r.json()["interaction_budget"] == 20


@pytest.mark.parametrize("value", [0, 1001, -3, "10", 2.5, True, [5]], ids=repr)
async def test_an_invalid_interaction_budget_is_400_and_changes_nothing(
    shoal_server: ShoalServer,
    value: Any,
) -> None:
    house = await make_house(shoal_server)
    route = f"/api/houses/{house.id}"
    r = await house.owner.patch(route, {"interaction_budget": value})
    assert r.status_code == 400
    assert r.json()["error"] == (
        "interaction_budget must be a whole number from 1 to 1000, or null for the server's default"
    )
    assert (await house.owner.get(route)).json()["interaction_budget"] == 20


async def test_a_bot_opts_in_to_hearing_agents(shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    r = await house.member.post("/api/agents", {"name": unique("bot"), "houseId": house.id})
    route = f"/api/agents/{r.json()['agent']['id']}/config"
    assert (await house.member.get(route)).json()["config"]["ambient_on_agents"] is False
    r = await house.member.patch(route, {"trigger_mode": "ambient", "ambient_on_agents": True})
    assert r.status_code == 200 and r.json()["config"]["ambient_on_agents"] is True
    r = await house.member.patch(route, {"ambient_on_agents": "sometimes"})
    assert r.status_code == 400 and "ambient_on_agents" in r.json()["error"]


DEFAULTS = {"models": {}, "relevance_model": None, "run_permission_deciders": "initiator",
            "timezone": "UTC", "interaction_budget": 20, "tools": {},
            "memory": {}, "thinking_default": None, "crew_roles": {}, "crew_models": {},
            "bindings": {}}


async def test_members_read_the_settings_and_owners_change_them(
    shoal_server: ShoalServer,
) -> None:
    house = await make_house(shoal_server)
    route = f"/api/houses/{house.id}/settings"
    for person in (house.guest, house.member, house.admin, house.owner):
        r = await person.get(route)
        assert r.status_code == 200 and r.json() == DEFAULTS, r.text
    outsider = await shoal_server.register()
    assert (await outsider.get(route)).status_code == 404

    change = {"models": {"haiku": {"alias": "quick", "params": {"temperature": 0.2}},
                         "offline": None},
              "relevance_model": "quick", "run_permission_deciders": "initiator_or_admins",
              "timezone": "Asia/Kolkata", "interaction_budget": 7}
    r = await house.owner.patch(route, change)
    assert r.status_code == 200, r.text
    expected = {"models": {"anthropic/claude-haiku-4-5": {"alias": "quick",
                                                          "params": {"temperature": 0.2}},
                           "offline/shoal-offline": {}},
                "relevance_model": "anthropic/claude-haiku-4-5",
                "run_permission_deciders": "initiator_or_admins", "timezone": "Asia/Kolkata",
                "interaction_budget": 7, "tools": {},
                "memory": {}, "thinking_default": None, "crew_roles": {}, "crew_models": {},
                "bindings": {}}
    assert r.json() == expected
    assert (await house.guest.get(route)).json() == expected
    # The house's model list is its allowlist, aliases included, wherever models are chosen.
    models = (await house.member.get(f"/api/houses/{house.id}/models")).json()
    assert models["allowlist"] is True
    assert models["models"] == [{"ref": "anthropic/claude-haiku-4-5", "aliases": ["quick"]},
                                {"ref": "offline/shoal-offline", "aliases": []}]

    # PATCH merges; null resets one key and leaves the others.
    r = await house.owner.patch(route, {"timezone": None, "interaction_budget": None})
    assert r.status_code == 200
    assert r.json() == {**expected, "timezone": "UTC", "interaction_budget": 20}


@pytest.mark.parametrize("role", ["admin", "member", "guest"])
async def test_only_owners_change_settings(shoal_server: ShoalServer, role: str) -> None:
    house = await make_house(shoal_server)
    route = f"/api/houses/{house.id}/settings"
    r = await getattr(house, role).patch(route, {"timezone": "Europe/Paris"})
    assert r.status_code == 403
    assert r.json()["error"] == (f"your role ({role}) may not change timezone; "
                                 "it needs owner or above")
    assert (await house.owner.get(route)).json()["timezone"] == "UTC"


@pytest.mark.parametrize(("change", "error"), [
    ({"models": ["haiku"]}, "models must be an object of model references"),
    ({"models": {"nowhere/x": {}}}, "models: unknown provider 'nowhere'"),
    ({"models": {"haiku": {"alias": "a"}, "gpt-mini": {"alias": "A"}}},
     "models: the alias 'A' is given to both anthropic/claude-haiku-4-5 and openai/gpt-5-mini"),
    ({"models": {"haiku": {}, "anthropic/claude-haiku-4-5": {}}},
     "models lists anthropic/claude-haiku-4-5 twice"),
    ({"models": {"haiku": {"alias": "a/b"}}}, "models['haiku'].alias must be a short name"),
    ({"models": {"haiku": {"params": [1]}}}, "models['haiku'].params must be an object"),
    ({"models": {"haiku": {"temperature": 1}}},
     "models['haiku'] must be an object with only alias and params"),
    ({"relevance_model": 5}, "relevance_model must be a model reference or alias"),
    ({"relevance_model": "nowhere/x"}, "relevance_model: unknown provider 'nowhere'"),
    ({"models": {"haiku": {}}, "relevance_model": "sonnet"},
     "relevance_model: model 'anthropic/claude-sonnet-4-5' is not allowed in this house; "
     "allowed: anthropic/claude-haiku-4-5"),
    ({"run_permission_deciders": "admins"},
     "run_permission_deciders must be one of initiator, initiator_or_admins"),
    ({"timezone": "Mars/Olympus"},
     "timezone must be an IANA time zone name such as \"Europe/Paris\" or \"UTC\"; "
     "'Mars/Olympus' is not one"),
    ({"timezone": 3}, "timezone must be an IANA time zone name"),
    ({"interaction_budget": 0}, "interaction_budget must be a whole number from 1 to 1000"),
    ({"colour": "blue"}, "unknown setting 'colour'; known settings: models, relevance_model, "
                         "run_permission_deciders, timezone, interaction_budget, tools, "
                         "memory, thinking_default, crew_roles, crew_models, bindings"),
    ({"crew_roles": {"tester": {"receives_updates": "yes"}}},
     "crew_roles must be an object from a role name"),
    ({"crew_models": {"developer": "openai/gpt-5-mini"}},
     "crew_models['developer'] must be a non-empty list of model references"),
    ({"crew_models": {"developer": ["nowhere/x"]}},
     "crew_models['developer']: unknown provider 'nowhere'"),
], ids=lambda v: str(v)[:40])
async def test_a_bad_setting_is_400_naming_the_key_and_changes_nothing(
    shoal_server: ShoalServer, change: dict[str, Any], error: str,
) -> None:
    house = await make_house(shoal_server)
    route = f"/api/houses/{house.id}/settings"
    r = await house.owner.patch(route, change)
    assert r.status_code == 400, r.text
    assert r.json()["error"].startswith(error), r.json()["error"]
    assert (await house.owner.get(route)).json() == DEFAULTS


async def test_models_that_leave_out_the_relevance_model_are_refused(
    shoal_server: ShoalServer,
) -> None:
    house = await make_house(shoal_server)
    route = f"/api/houses/{house.id}/settings"
    r = await house.owner.patch(route, {"relevance_model": "haiku"})
    assert r.status_code == 200 and r.json()["relevance_model"] == "anthropic/claude-haiku-4-5"
    r = await house.owner.patch(route, {"models": {"sonnet": {}}})
    assert r.status_code == 400
    assert r.json()["error"] == (
        "relevance_model: model 'anthropic/claude-haiku-4-5' is not allowed in this house; "
        "allowed: anthropic/claude-sonnet-4-5; change relevance_model in the same request, "
        "or set it to null")
    r = await house.owner.patch(route, {"models": {"sonnet": {}}, "relevance_model": None})
    assert r.status_code == 200 and r.json()["relevance_model"] is None


async def test_room_bindings_are_part_of_the_document(shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    route = f"/api/houses/{house.id}/settings"
    agent = await new_agent(house)
    room = (await house.owner.get(f"/api/agencies/{house.room_id}")).json()
    watcher = await house.member.socket()
    await watcher.join(house.room_id)
    # House admins bind rooms here, as room admins do in the room; members may not.
    r = await house.member.patch(route, {"bindings": {house.room_id: agent["username"]}})
    assert r.status_code == 403 and "needs admin or above" in r.json()["error"]
    r = await house.admin.patch(route, {"bindings": {room["slug"]: f"@{agent['handle']}"}})
    assert r.status_code == 200, r.text
    assert r.json()["bindings"] == {house.room_id: agent["username"]}
    assert (await house.guest.get(route)).json()["bindings"] == {house.room_id:
                                                                  agent["username"]}
    shown = (await house.guest.get(f"/api/agencies/{house.room_id}")).json()["binding"]
    assert shown["username"] == agent["username"]
    [update] = await watcher.wait_for("agency-updated")
    assert update["binding"]["username"] == agent["username"]
    # A bad room or agent changes nothing, the other keys of the request included.
    for bindings, error in (({"nowhere": agent["username"]}, "this house has no room 'nowhere'"),
                            ({house.room_id: "nobody"}, "no agent in this house is nobody"),
                            (["x"], "bindings must be an object")):
        r = await house.owner.patch(route, {"timezone": "Europe/Paris", "bindings": bindings})
        assert r.status_code == 400 and error in r.json()["error"], r.text
    assert (await house.owner.get(route)).json() == {
        **DEFAULTS, "bindings": {house.room_id: agent["username"]}}
    # null unbinds the room; null for the key unbinds every room.
    r = await house.owner.patch(route, {"bindings": {house.room_id: None}})
    assert r.json()["bindings"] == {}
    await house.owner.patch(route, {"bindings": {house.room_id: agent["id"]}})
    r = await house.owner.patch(route, {"bindings": None})
    assert r.status_code == 200 and r.json()["bindings"] == {}
    assert (await house.guest.get(f"/api/agencies/{house.room_id}")).json()["binding"] is None
    await watcher.close()


async def test_the_memory_setting_names_a_known_embedding_model(
    shoal_server: ShoalServer,
) -> None:
    house = await make_house(shoal_server)
    route = f"/api/houses/{house.id}/settings"
    wanted = {"embedding_model": "openai/text-embedding-3-small", "vector_weight": 0.3}
    r = await house.owner.patch(route, {"memory": wanted})
    assert r.status_code == 200, r.text
    assert r.json()["memory"] == {"embedding_model": "openai/text-embedding-3-small",
                                  "vector_weight": 0.3}
    for bad, says in (({"embedding_model": "nowhere/x"}, "unknown provider"),
                      ({"vector_weight": 2}, "from 0 to 1"),
                      ({"colour": "blue"}, "memory must be an object"),
                      ("offline", "memory must be an object")):
        r = await house.owner.patch(route, {"memory": bad})
        assert r.status_code == 400 and says in r.json()["error"], r.text
    assert (await house.admin.patch(route, {"memory": {}})).status_code == 403
