"""A crew works a goal through: a person starts it; the lead (a builtin agent on the fake
provider) puts tasks on the board, takes a lock and spawns a developer into the crew; the
developer takes its task, is denied a held lock, locks its own file, reports a commit and its
completion; the board, locks, feed, activations and the room's live events show all of it."""

from __future__ import annotations

import json
from typing import Any

from shoal.llm.fakeserver import FakeToolCall, Reply
from tests.test_crew.team import DEV_MODEL, LEAD_MODEL, Team, fake, fake_name, fake_server, team  # noqa: F401  (fixtures)

AUTH = "Implement the auth module"
REVIEW = "Review the auth changes"


def call(name: str, **arguments: Any) -> FakeToolCall:
    return FakeToolCall(name, arguments)


def tool_results(team: Team, model: str) -> list[str]:  # noqa: F811
    return [m["content"] for r in team.fake.requests if r.model == fake_name(model)
            for m in r.body["messages"] if m["role"] == "tool"]


async def test_a_person_starts_a_crew_and_the_lead_and_a_developer_work_it(
        team: Team) -> None:  # noqa: F811
    dev, lead = team.dev, team.lead
    team.fake.script(
        Reply("", tool_calls=[
            call("crew_task_create", title=AUTH, description="login and sessions"),
            call("crew_task_create", title=REVIEW, assignee=f"@{team.secretary['handle']}"),
            call("crew_lock", resource="config/settings.toml"),
            call("crew_add_member", agent=f"@{dev['handle']}", role="developer",
                 task=f"{AUTH}; take the task on the board and report when done",
                 label="auth")]),
        Reply("The plan is on the board and a developer is on it."),
        Reply("NO_REPLY"), Reply("NO_REPLY"), model=fake_name(LEAD_MODEL))
    team.fake.script(
        Reply("", tool_calls=[call("crew_task_update", id=AUTH, status="in_progress"),
                              call("crew_lock", resource="config/settings.toml"),
                              call("crew_lock", resource="src/auth.py")]),
        Reply("", tool_calls=[
            call("crew_file_edit", files=["src/auth.py", "tests/test_auth.py"],
                 commit="feat: add auth module"),
            call("crew_task_update", id=AUTH, status="done"),
            call("crew_report", kind="completion", text="The auth module is in, tested.")]),
        Reply("Implemented the auth module."), model=fake_name(DEV_MODEL))
    watcher = await team.house.guest.socket()
    await watcher.join(team.room_id)

    started = await team.start(members=[{"agent": f"@{team.secretary['handle']}",
                                         "role": "secretary"}])
    crew_id = started["id"]
    assert started["goal"] == "Ship the login page" and started["state"] == "active"
    assert [(m["handle"], m["role"]) for m in started["members"]] == [
        (f"@{lead['handle']}", "lead"), (f"@{team.secretary['handle']}", "secretary")]
    assert started["lead"] == {"agent_id": lead["id"], "handle": f"@{lead['handle']}"}
    await team.settled()

    crew = (await team.house.guest.get(f"/api/crews/{crew_id}")).json()
    board = {t["title"]: t for t in crew["board"]}
    assert board[AUTH]["status"] == "done" and board[AUTH]["assignee_id"] == dev["id"]
    assert board[AUTH]["assignee"] == f"@{dev['handle']}"
    assert board[AUTH]["updated_by"] == dev["id"]
    assert board[REVIEW]["status"] == "todo"
    assert board[REVIEW]["assignee"] == f"@{team.secretary['handle']}"
    assert crew["tasks"] == {"todo": 1, "in_progress": 0, "blocked": 0, "done": 1}
    assert [(lk["resource"], lk["holder"]) for lk in crew["locks"]] == [
        ("config/settings.toml", f"@{lead['handle']}"), ("src/auth.py", f"@{dev['handle']}")]
    members = {m["handle"]: m for m in crew["members"]}
    assert members[f"@{dev['handle']}"]["role"] == "developer"
    assert members[f"@{dev['handle']}"]["locks"] == ["src/auth.py"]
    assert all(m["status"] == "idle" for m in crew["members"])
    assert crew["budget"] == {"agents": 50, "running": 0, "available": 50}

    # The developer heard the held lock refused, naming its holder; the lead heard the report.
    assert (f"error: config/settings.toml is locked by @{lead['handle']}; work on something "
            "else or message them") in tool_results(team, DEV_MODEL)
    lead_turns = [a for a in await team.activations(lead["id"]) if a.trigger_kind == "crew"]
    assert [a.crew_role for a in lead_turns] == ["lead", "lead"]
    assert "You lead a crew in this room" in lead_turns[0].payload["prompt"]
    assert lead_turns[1].payload["prompt"] == (
        f"Crew report from @{dev['username']} (Developer), completion:\n\n"
        "The auth module is in, tested.")

    feed = (await team.house.guest.get(f"/api/crews/{crew_id}/activity",
                                       params={"limit": 200})).json()
    events = [(e["kind"], e["actor_id"], e["summary"]) for e in reversed(feed)]
    person, secretary = team.house.member.id, team.secretary
    expected = [
        ("crew_started", person, "Crew started: Ship the login page"),
        ("member_joined", lead["id"], "Joined as Lead"),
        ("member_joined", secretary["id"], "Joined as Secretary"),
        ("task_created", lead["id"], f"Task created: {AUTH}"),
        ("task_created", lead["id"], f"Task created: {REVIEW} → @{secretary['handle']}"),
        ("lock_acquired", lead["id"], "Lock acquired: config/settings.toml"),
        ("member_joined", dev["id"], "Joined as Developer"),
        ("task_updated", dev["id"], f"Task in progress: {AUTH} → @{dev['handle']}"),
        ("lock_denied", dev["id"],
         f"Lock denied: config/settings.toml (held by @{lead['handle']})"),
        ("lock_acquired", dev["id"], "Lock acquired: src/auth.py"),
        ("file_edit", dev["id"], "Commit: feat: add auth module (2 files)"),
        ("task_updated", dev["id"], f"Task done: {AUTH}"),
        ("report", dev["id"], "Completion report: The auth module is in, tested."),
    ]
    work = [e for e in events if e[0] != "status_change"]
    assert work == expected
    denied = next(e for e in feed if e["kind"] == "lock_denied")
    assert denied["data"] == {"resource": "config/settings.toml", "holder": lead["id"]}
    report = next(e for e in feed if e["kind"] == "report")
    assert report["actor"] == f"@{dev['handle']}"  # events name their actor by handle
    assert report["data"] == {"kind": "completion", "text": "The auth module is in, tested."}
    changes = [(e["actor_id"], e["data"]["to"]) for e in reversed(feed)
               if e["kind"] == "status_change"]
    for agent in (lead, dev):  # each went to work and came back idle, in that order
        mine = [to for actor, to in changes if actor == agent["id"]]
        assert mine[0] == "running" and mine[-1] == "idle"

    # The developer's run is a crew activation with its role; the log filters by crew.
    r = await team.house.guest.get(f"/api/agents/{dev['id']}/activations",
                                   params={"crewId": crew_id})
    logged = r.json()
    assert logged and {(a["crew_id"], a["crew_role"], a["trigger_kind"]) for a in logged} == {
        (crew_id, "developer", "subagent")}
    heard = [a for a in await team.activations(lead["id"])
             if a.trigger_kind == "subagent_result"]
    assert [(a.crew_id, a.crew_role) for a in heard] == [(crew_id, "lead")]
    crew_log = (await team.house.guest.get(f"/api/crews/{crew_id}/activations")).json()
    assert {a["agent"] for a in crew_log} == {f"@{lead['handle']}", f"@{dev['handle']}"}

    # The room saw the work live: every event, the cards and the crew's state.
    live = await watcher.wait_for("crew-activity", len(feed))
    assert {e["activity"]["id"] for e in live} == {e["id"] for e in feed}
    cards = await watcher.wait_for("crew-task", 4)
    assert [(c["task"]["title"], c["task"]["status"]) for c in cards] == [
        (AUTH, "todo"), (REVIEW, "todo"), (AUTH, "in_progress"), (AUTH, "done")]
    updated = await watcher.wait_for("crew-updated")
    assert all(u["crew"]["id"] == crew_id for u in updated)

    # The developer leaves: its lock goes with it; the record keeps it as left.
    r = await team.house.member.delete(f"/api/crews/{crew_id}/members/@{dev['handle']}")
    assert r.status_code == 200, r.text
    left = r.json()
    assert [lk["resource"] for lk in left["locks"]] == ["config/settings.toml"]
    assert {m["handle"]: m["status"] for m in left["members"]}[f"@{dev['handle']}"] == "left"
    assert [e["summary"] for e in left["feed"][:2]] == [
        "Left the crew (Developer)", "Lock released: src/auth.py"]

    # Ending keeps the record.
    r = await team.house.member.post(f"/api/crews/{crew_id}/end")
    assert r.status_code == 200 and r.json()["state"] == "ended"
    ended = (await team.house.guest.get(f"/api/crews/{crew_id}")).json()
    assert ended["locks"] == [] and len(ended["board"]) == 2
    assert ended["feed"][0]["kind"] == "crew_ended"
    assert json.dumps(ended)  # the whole record reads back
