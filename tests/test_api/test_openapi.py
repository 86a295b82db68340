"""The OpenAPI document says what the server answers: every error an operation can give, in
the one error shape, and the rules its bodies are checked by."""

from __future__ import annotations

from typing import Any

import jsonschema_rs

from tests.support import ShoalServer, make_house, unique
from tests.test_api.test_permissions import REST_ROWS

METHODS = ("get", "put", "post", "patch", "delete")


async def operations(server: ShoalServer) -> list[tuple[str, str, dict[str, Any]]]:
    doc = (await server.http().get("/openapi.json")).json()
    return [(method.upper(), path, op) for path, item in doc["paths"].items()
            for method, op in item.items() if method in METHODS]


async def test_every_operation_declares_its_errors_in_the_error_shape(
        shoal_server: ShoalServer) -> None:
    ops = await operations(shoal_server)
    assert len(ops) > 80
    for method, path, op in ops:
        where = f"{method} {path}"
        responses = op["responses"]
        assert "422" not in responses, where  # validation errors are answered 400
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, where
        params = {p["in"] for p in op.get("parameters", [])}
        expected = set()
        if op.get("security"):
            expected |= {"401", "403"}
        if "path" in params:
            expected.add("404")
        if "requestBody" in op:
            expected |= {"400", "413"}
        assert expected <= set(responses), where
    declared = {(m, p): set(op["responses"]) for m, p, op in ops}
    assert {"403", "409", "429"} <= declared["POST", "/api/auth/register"]
    assert {"401", "429"} <= declared["POST", "/api/auth/login"]
    assert {"401", "403", "404", "429"} <= declared["POST", "/api/hooks/{hook_id}/github"]
    assert "409" in declared["POST", "/api/houses/{house_id}/hooks"]
    assert "400" in declared["POST", "/api/dm/{user_id}"]  # a DM with yourself
    assert "400" in declared["POST", "/api/cron-jobs/{job_id}/run"]  # a job turned off
    assert declared["GET", "/api/health"] == {"200"}


async def test_the_body_rules_declared_are_the_ones_the_server_applies(
        shoal_server: ShoalServer) -> None:
    """Each value here breaks a rule the document declares for its field, and the server
    refuses it with 400 and the sentence its check has always given."""
    doc = (await shoal_server.http().get("/openapi.json")).json()
    schemas = doc["components"]["schemas"]
    house = await make_house(shoal_server)
    owner, h, room = house.owner, house.id, house.room_id
    r = await owner.post("/api/agents", {"name": unique("bot"), "agencyId": room})
    agent = r.json()["agent"]["id"]
    r = await owner.post(f"/api/houses/{h}/hooks", {"name": unique("hook"), "rooms": [room]})
    hook = r.json()["id"]
    r = await owner.post(f"/api/agencies/{room}/heartbeats", {"agent": agent, "interval": "1h"})
    heartbeat = r.json()["id"]
    signup = {"username": unique(), "password": "correct horse"}
    cases = [
        ("POST", "/api/auth/register", "RegisterBody", {**signup, "username": "has space"},
         "username must be 2-24 characters of letters, digits, _ and -"),
        ("POST", "/api/auth/register", "RegisterBody", {**signup, "password": "short"},
         "password must be at least 8 characters"),
        ("POST", "/api/agents", "CreateAgentBody", {"name": "  ", "houseId": h},
         "name is required"),
        ("POST", "/api/agencies", "CreateAgencyBody", {"name": " ", "houseId": h},
         "name is required"),
        ("PATCH", f"/api/agencies/{room}", "UpdateAgencyBody", {"name": ""},
         "name is required"),
        ("POST", "/api/houses", "HouseBody", {"name": " "},
         "house name must be 1-64 characters"),
        ("PATCH", f"/api/houses/{h}/members/{house.member.id}", "RoleBody", {"role": "king"},
         "role must be one of guest, member, admin, owner"),
        ("POST", f"/api/houses/{h}/invites", "InviteBody", {"role": "owner"},
         "an invite grants guest, member or admin"),
        ("POST", f"/api/houses/{h}/invites", "InviteBody", {"max_uses": 0},
         "max_uses must be from 1 to 2147483647"),
        ("POST", f"/api/houses/{h}/hooks", "CreateHookBody", {"name": " ", "rooms": [room]},
         "name must be 1-64 characters"),
        ("PATCH", f"/api/houses/{h}/hooks/{hook}", "UpdateHookBody", {"secret": "short"},
         "secret must be 8-256 characters"),
        ("POST", f"/api/agencies/{room}/heartbeats", "HeartbeatBody",
         {"agent": agent, "interval": "10x"}, "'10x' is not an interval"),
        ("PATCH", f"/api/heartbeats/{heartbeat}", "HeartbeatUpdate", {"interval": "soon"},
         "'soon' is not an interval"),
    ]
    for method, path, model, body, sentence in cases:
        assert not jsonschema_rs.is_valid(schemas[model], body), (model, body)
        r = await owner.http.request(method, path, json=body)
        assert r.status_code == 400, (method, path, body, r.text)
        assert r.json()["error"].startswith(sentence), (method, path, r.json())


async def test_every_status_the_permission_matrix_sees_is_declared(
        shoal_server: ShoalServer) -> None:
    declared = {(m, p): set(op["responses"]) for m, p, op in await operations(shoal_server)}
    undeclared = {(row.method, row.route, str(status)) for row in REST_ROWS
                  for status in row.expect.values()
                  if status is not None and str(status) not in declared[row.method, row.route]}
    assert undeclared == set()
