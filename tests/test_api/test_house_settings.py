"""House-wide agent settings: the interaction budget, set by owners, shown to members."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import ShoalServer, make_house, unique


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
