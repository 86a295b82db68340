"""The crews API: who may start, change, end and read a crew, its members, board, locks, feed
and model allowlists; bad input answered 400, 403, 404 or 409 with a sentence."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support import Person, ShoalServer
from tests.test_crew.team import Team, fake, fake_server, team  # noqa: F401  (fixtures)


def refused(r: httpx.Response, status: int, words: str) -> None:
    assert r.status_code == status, r.text
    assert words in r.json()["error"], r.json()


async def another_member(server: ShoalServer, team: Team) -> Person:  # noqa: F811
    person = await server.register()
    r = await team.house.owner.post(f"/api/houses/{team.house.id}/invites", {"role": "member"})
    assert (await person.post("/api/houses/join", {"code": r.json()["code"]})).status_code == 200
    return person


async def test_who_may_start_read_change_and_end_a_crew(team: Team) -> None:  # noqa: F811
    house, lead = team.house, team.lead
    outsider = await team.server.register()
    body = {"goal": "Ship it", "lead": f"@{lead['handle']}"}
    refused(await house.guest.post(f"/api/agencies/{team.room_id}/crews", body), 403,
            "your role (guest) may not post")
    refused(await outsider.post(f"/api/agencies/{team.room_id}/crews", body), 404,
            "room not found")
    crew = await team.start()
    crew_id = crew["id"]
    refused(await house.admin.post(f"/api/agencies/{team.room_id}/crews", body), 409,
            "this room already has an active crew")

    listed = (await house.guest.get(f"/api/agencies/{team.room_id}/crews")).json()
    assert [c["id"] for c in listed] == [crew_id] and listed[0]["tasks"]["todo"] == 0
    assert (await house.guest.get(f"/api/agencies/{team.room_id}/crews",
                                  params={"state": "ended"})).json() == []
    refused(await outsider.get(f"/api/agencies/{team.room_id}/crews"), 404, "room not found")
    refused(await outsider.get(f"/api/crews/{crew_id}"), 404, "crew not found")
    refused(await house.guest.get("/api/crews/nope"), 404, "crew not found")
    for path in ("tasks", "locks", "activity", "activations", "model-config"):
        assert (await house.guest.get(f"/api/crews/{crew_id}/{path}")).status_code == 200
        refused(await outsider.get(f"/api/crews/{crew_id}/{path}"), 404, "crew not found")

    other = await another_member(team.server, team)
    refused(await other.patch(f"/api/crews/{crew_id}", {"goal": "Mine now"}), 403,
            "only the one who started this crew or a house admin may change it")
    refused(await house.guest.patch(f"/api/crews/{crew_id}", {"goal": "x"}), 403,
            "may change it")
    refused(await house.member.patch(f"/api/crews/{crew_id}", {"agent_budget": 0}), 400,
            "agent_budget")
    refused(await house.member.patch(f"/api/crews/{crew_id}", {"colour": "red"}), 400,
            "colour")
    r = await house.member.patch(f"/api/crews/{crew_id}", {"goal": "Ship the login page today",
                                                           "agent_budget": 5,
                                                           "refresh_seconds": 60})
    assert r.status_code == 200, r.text
    assert (r.json()["goal"], r.json()["budget"]["agents"], r.json()["refresh_seconds"]) == (
        "Ship the login page today", 5, 60)
    # The heartbeat has its own resource; the crew shows whether it is halted.
    refused(await house.admin.patch(f"/api/crews/{crew_id}", {"heartbeat_halted": True}), 400,
            "heartbeat_halted")
    r = await house.admin.patch(f"/api/crews/{crew_id}/heartbeat", {"halted": True})
    assert r.status_code == 200, r.text
    r = await house.member.get(f"/api/crews/{crew_id}")
    assert r.json()["heartbeat_halted"] is True
    kinds = [e["kind"] for e in r.json()["feed"]]
    assert kinds[:2] == ["heartbeat_halted", "goal_changed"]

    refused(await other.post(f"/api/crews/{crew_id}/end"), 403, "may end it")
    r = await house.admin.post(f"/api/crews/{crew_id}/end")
    assert r.status_code == 200 and r.json()["state"] == "ended"
    assert r.json()["ended_by"] == house.admin.id
    refused(await house.member.post(f"/api/crews/{crew_id}/end"), 409, "has ended")
    refused(await house.member.patch(f"/api/crews/{crew_id}", {"goal": "again"}), 409,
            "its record can be read, not changed")
    again = await team.start()  # the room may have a new crew now
    assert again["id"] != crew_id


async def test_bad_input_when_starting_a_crew(team: Team) -> None:  # noqa: F811
    post = team.house.member.post
    url = f"/api/agencies/{team.room_id}/crews"
    refused(await post(url, {"lead": f"@{team.lead['handle']}"}), 400, "goal")
    refused(await post(url, {"goal": "   ", "lead": f"@{team.lead['handle']}"}), 400, "goal")
    refused(await post(url, {"goal": "x", "lead": "@nobody-here"}), 404,
            "there is no agent '@nobody-here' in this house")
    refused(await post(url, {"goal": "x", "lead": f"@{team.lead['handle']}",
                             "members": [{"agent": f"@{team.dev['handle']}",
                                          "role": "juggler"}]}), 400,
            "there is no crew role 'juggler'; roles: architect, secretary, developer, "
            "code-reviewer")
    refused(await post(url, {"goal": "x", "lead": f"@{team.lead['handle']}",
                             "members": [{"agent": f"@{team.dev['handle']}", "role": "lead"}]}),
            400, "a crew has one lead")
    refused(await post(url, {"goal": "x", "lead": f"@{team.lead['handle']}",
                             "model_config": {"developer": ["nowhere/model"]}}), 400,
            "unknown provider 'nowhere'")
    refused(await post("/api/agencies/nope/crews", {"goal": "x", "lead": "@a"}), 404,
            "room not found")
    assert (await team.house.guest.get(url)).json() == []  # nothing was started


async def test_members_join_and_leave_by_permission(team: Team) -> None:  # noqa: F811
    house = team.house
    crew_id = (await team.start())["id"]
    url = f"/api/crews/{crew_id}/members"
    dev = {"agent": f"@{team.dev['handle']}", "role": "developer"}
    other = await another_member(team.server, team)
    refused(await other.post(url, dev), 403, "only the crew's lead and sub-leads")
    refused(await house.guest.post(url, dev), 403, "only the crew's lead and sub-leads")
    refused(await house.member.post(url, {**dev, "role": "juggler"}), 400,
            "there is no crew role 'juggler'")
    r = await house.member.post(url, dev)
    assert r.status_code == 201, r.text
    assert {m["handle"]: m["role"] for m in r.json()["members"]}[dev["agent"]] == "developer"
    refused(await house.admin.post(url, dev), 409, "is already in this crew as developer")
    refused(await house.member.post(url, {"agent": "@nobody", "role": "developer"}), 404,
            "there is no agent '@nobody'")
    refused(await house.member.delete(f"{url}/@{team.lead['handle']}"), 400,
            "the lead cannot leave its crew")
    refused(await other.delete(f"{url}/{dev['agent']}"), 403, "may remove members")
    r = await house.admin.delete(f"{url}/{dev['agent']}")
    assert r.status_code == 200
    refused(await house.admin.delete(f"{url}/{dev['agent']}"), 404, "is not a member")
    r = await house.member.post(url, {**dev, "role": "code-reviewer"})  # joins again
    assert {m["handle"]: m["role"] for m in r.json()["members"]}[dev["agent"]] == "code-reviewer"


async def test_the_board_over_rest(team: Team) -> None:  # noqa: F811
    house = team.house
    crew_id = (await team.start(members=[{"agent": f"@{team.dev['handle']}",
                                          "role": "developer"}]))["id"]
    url = f"/api/crews/{crew_id}/tasks"
    refused(await house.guest.post(url, {"title": "Write it"}), 403, "may not post")
    refused(await house.member.post(url, {"title": ""}), 400, "title")
    refused(await house.member.post(url, {"title": "x", "status": "someday"}), 400, "status")
    refused(await house.member.post(url, {"title": "x", "assignee": f"@{team.reviewer['handle']}"}),
            400, "is not a member of this crew; add it first")
    r = await house.member.post(url, {"title": "Write it", "assignee": f"@{team.dev['handle']}"})
    assert r.status_code == 201, r.text
    task = r.json()
    assert (task["status"], task["assignee"]) == ("todo", f"@{team.dev['handle']}")
    refused(await house.member.patch(f"{url}/nope", {"status": "done"}), 404,
            "this crew has no task nope")
    refused(await house.member.patch(f"{url}/{task['id']}", {"status": "finished"}), 400,
            "status")
    refused(await house.guest.patch(f"{url}/{task['id']}", {"status": "done"}), 403,
            "may not post")
    r = await house.member.patch(f"{url}/{task['id'][-8:]}", {"status": "blocked"})
    assert r.status_code == 200 and r.json()["status"] == "blocked"
    assert r.json()["updated_by"] == house.member.id
    assert [t["id"] for t in (await house.guest.get(url, params={"status": "blocked"})).json()
            ] == [task["id"]]
    assert (await house.guest.get(url, params={"status": "done"})).json() == []
    assert len((await house.guest.get(url, params={"assignee": f"@{team.dev['handle']}"})
                ).json()) == 1


async def test_locks_and_reports_of_agents_with_their_own_tokens(team: Team) -> None:  # noqa: F811
    house = team.house
    first, first_http = await team.agent_client()
    second, second_http = await team.agent_client()
    stranger, stranger_http = await team.agent_client()
    crew_id = (await team.start(members=[{"agent": f"@{first['handle']}", "role": "developer"},
                                         {"agent": f"@{second['handle']}",
                                          "role": "code-reviewer"}]))["id"]
    url = f"/api/crews/{crew_id}/locks"
    refused(await house.member.post(url, {"resource": "src/app.py"}), 403,
            "only the crew's agents report, lock and message as members")
    refused(await stranger_http.post(url, json={"resource": "src/app.py"}), 403,
            "is not a member of this crew")
    r = await first_http.post(url, json={"resource": "src/app.py"})
    assert r.status_code == 201 and r.json()["holder"] == f"@{first['handle']}"
    refused(await second_http.post(url, json={"resource": "src/app.py"}), 409,
            f"src/app.py is locked by @{first['handle']}")
    refused(await second_http.delete(f"{url}/src/app.py"), 403,
            f"src/app.py is locked by @{first['handle']}; only its holder")
    refused(await second_http.delete(f"{url}/nothing"), 404,
            "nobody holds a lock on nothing")
    locks = (await house.guest.get(url)).json()
    assert [(lk["resource"], lk["holder"]) for lk in locks] == [("src/app.py",
                                                                f"@{first['handle']}")]
    feed = (await house.guest.get(f"/api/crews/{crew_id}/activity",
                                  params={"kind": ["lock_denied", "lock_acquired"]})).json()
    assert [(e["kind"], e["actor_id"]) for e in feed] == [
        ("lock_denied", second["id"]), ("lock_acquired", first["id"])]
    r = await house.member.delete(f"{url}/src/app.py")  # the starter frees it
    assert r.status_code == 200 and (await house.guest.get(url)).json() == []

    reports = f"/api/crews/{crew_id}/reports"
    refused(await house.member.post(reports, {"kind": "progress", "text": "x"}), 403,
            "only the crew's agents")
    refused(await first_http.post(reports, json={"kind": "gossip", "text": "x"}), 400, "kind")
    r = await first_http.post(reports, json={"kind": "blocker", "text": "Need the API key"})
    assert r.status_code == 201 and r.json()["delivered_to_lead"] is True
    lead_turns = [a for a in await team.activations(team.lead["id"])
                  if a.trigger_kind == "crew"]
    assert lead_turns[-1].payload["prompt"].endswith("blocker:\n\nNeed the API key")
    refused(await house.guest.get(f"/api/crews/{crew_id}/activity",
                                  params={"kind": "gossip"}), 400,
            "kind 'gossip' is not a crew event")
    await team.settled()


async def test_model_allowlists_per_role(team: Team) -> None:  # noqa: F811
    house = team.house
    crew_id = (await team.start())["id"]
    for prefix in ("crews", "projects"):
        url = f"/api/{prefix}/{crew_id}/model-config"
        got = (await house.guest.get(url)).json()
        assert got["models"] == {} and got["effective"]["developer"] is None
        refused(await house.member.put(url, {"models": {"developer": ["openai/fake-x"]}}),
                403, "your role (member) may not change a crew's models; it needs admin")
        refused(await house.admin.put(url, {"models": {"juggler": ["openai/fake-x"]}}), 400,
                "there is no crew role 'juggler'")
        refused(await house.admin.put(url, {"models": {"developer": []}}), 400,
                "must be a non-empty list of model references")
        refused(await house.admin.put(url, {"models": {"developer": ["nowhere/x"]}}), 400,
                "unknown provider 'nowhere'")
    r = await house.owner.put(f"/api/projects/{crew_id}/model-config",
                              {"models": {"developer": ["openai/fake-strong"]}})
    assert r.status_code == 200, r.text
    assert r.json()["effective"]["developer"] == ["openai/fake-strong"]

    # The house's defaults apply to roles the crew does not name.
    r = await house.owner.patch(f"/api/houses/{house.id}/settings", {"crew_models": {
        "architect": ["openai/fake-middle", "openai/fake-strong"],
        "developer": ["openai/fake-other"]}})
    assert r.status_code == 200, r.text
    got = (await house.guest.get(f"/api/crews/{crew_id}/model-config")).json()
    assert got["effective"]["architect"] == ["openai/fake-middle", "openai/fake-strong"]
    assert got["effective"]["developer"] == ["openai/fake-strong"]  # the crew's own wins
    assert got["defaults"]["developer"] == ["openai/fake-other"]

    members = f"/api/crews/{crew_id}/members"
    refused(await house.member.post(members, {"agent": f"@{team.dev['handle']}",
                                              "role": "developer"}), 400,
            f"@{team.dev['username']} would run on openai/fake-dev, which the developer role of "
            "this crew does not allow; allowed models: openai/fake-strong")
    refused(await house.member.post(members, {"agent": f"@{team.reviewer['handle']}",
                                              "role": "architect"}), 400,
            "allowed models: openai/fake-middle, openai/fake-strong")
    r = await house.member.post(members, {"agent": f"@{team.reviewer['handle']}",
                                          "role": "code-reviewer"})  # unrestricted
    assert r.status_code == 201
    denied = (await house.guest.get(f"/api/crews/{crew_id}/activity",
                                    params={"kind": "model_denied"})).json()
    assert [(e["data"]["agent_id"], e["data"]["role"], e["data"]["model"]) for e in denied] == [
        (team.reviewer["id"], "architect", "openai/fake-review"),
        (team.dev["id"], "developer", "openai/fake-dev")]
    assert denied[1]["summary"] == "Model denied: openai/fake-dev for Developer"
    r = await house.owner.put(f"/api/crews/{crew_id}/model-config",
                              {"models": {"developer": ["*"]}})
    assert r.json()["effective"]["developer"] is None
    r = await house.member.post(members, {"agent": f"@{team.dev['handle']}",
                                          "role": "developer"})
    assert r.status_code == 201, r.text


async def test_house_defined_roles(team: Team) -> None:  # noqa: F811
    house = team.house
    settings = f"/api/houses/{house.id}/settings"
    refused(await house.owner.patch(settings, {"crew_roles": {"Tester!": {}}}), 400,
            "crew_roles must be an object")
    refused(await house.owner.patch(settings, {"crew_roles": {"lead": {"sub_lead": True}}}),
            400, "crew_roles cannot redefine lead")
    refused(await house.admin.patch(settings, {"crew_roles": {"tester": {}}}), 403,
            "may not change crew_roles")
    r = await house.owner.patch(settings, {"crew_roles": {
        "tester": {"receives_updates": True}, "developer": {"sub_lead": True}}})
    assert r.status_code == 200, r.text
    assert r.json()["crew_roles"]["tester"] == {"receives_updates": True, "sub_lead": False}
    crew = await team.start(members=[{"agent": f"@{team.dev['handle']}", "role": "tester"}])
    member: dict[str, Any] = {m["role"]: m for m in crew["members"]}["tester"]
    assert (member["receives_updates"], member["sub_lead"]) == (True, False)
    assert crew["roles"]["developer"] == {"receives_updates": False, "sub_lead": True}
    # In this house a developer is a sub-lead: it adds members itself.
    helper, helper_http = await team.agent_client()
    members = f"/api/crews/{crew['id']}/members"
    r = await house.member.post(members, {"agent": f"@{helper['handle']}", "role": "developer"})
    assert r.status_code == 201, r.text
    r = await helper_http.post(members, json={"agent": f"@{team.reviewer['handle']}",
                                              "role": "code-reviewer"})
    assert r.status_code == 201, r.text
    added = next(e for e in r.json()["feed"] if e["kind"] == "member_joined")
    assert added["data"] == {"role": "code-reviewer", "added_by": helper["id"]}
