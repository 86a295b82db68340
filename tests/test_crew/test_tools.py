"""The crew tools as agents use them: offered to members only, with their permissions; the
model allowlist applied to a spawned sub-agent; messages among members woken privately; and
members' activations tagged with the crew and their role, whatever woke them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from shoal.llm.fakeserver import FakeToolCall, Reply
from shoal.subagents.tables import Subagent
from tests.test_crew.team import (  # noqa: F401  (fixtures)
    DEV_MODEL,
    LEAD_MODEL,
    REVIEW_MODEL,
    Team,
    fake,
    fake_name,
    fake_server,
    team,
)

STRONG = "openai/fake-strong"


def call(name: str, **arguments: Any) -> FakeToolCall:
    return FakeToolCall(name, arguments)


def requests(team: Team, model: str) -> list[Any]:  # noqa: F811
    return [r for r in team.fake.requests if r.model == fake_name(model)]


def tool_results(team: Team, model: str) -> list[str]:  # noqa: F811
    """Every tool result the model was shown, once each, in order."""
    return list(dict.fromkeys(m["content"] for r in requests(team, model)
                              for m in r.body["messages"] if m["role"] == "tool"))


def tool_names(request: Any) -> set[str]:
    return {t["function"]["name"] for t in request.body.get("tools", [])}


async def test_members_get_the_crew_tools_with_their_roles_permissions(
        team: Team) -> None:  # noqa: F811
    dev, reviewer = team.dev, team.reviewer
    team.fake.script(Reply("NO_REPLY"), model=fake_name(LEAD_MODEL))  # the lead's briefing
    crew_id = (await team.start(members=[{"agent": f"@{dev['handle']}", "role": "developer"},
                                         {"agent": f"@{team.secretary['handle']}",
                                          "role": "secretary"}]))["id"]
    tasks = f"/api/crews/{crew_id}/tasks"
    mine = (await team.house.member.post(tasks, {"title": "Build it",
                                                 "assignee": f"@{dev['handle']}"})).json()
    theirs = (await team.house.member.post(tasks, {
        "title": "File it", "assignee": f"@{team.secretary['handle']}"})).json()
    team.fake.script(
        Reply("", tool_calls=[
            call("crew_tasks", assignee="me"),
            call("crew_task_update", id=theirs["id"], status="done"),
            call("crew_task_update", id="Build it", status="blocked"),
            call("crew_add_member", agent=f"@{reviewer['handle']}", role="code-reviewer"),
            call("crew_unlock", resource="nothing"),
            call("crew_report", kind="sideways", text="x")]),
        Reply("Blocked on the build."), model=fake_name(DEV_MODEL))
    team.fake.script(Reply("I am not in the crew."), model=fake_name(REVIEW_MODEL))
    await team.house.member.post(f"/api/agencies/{team.room_id}/messages", {
        "content": f"@{dev['handle']} @{reviewer['handle']} how is it going?"})
    await team.settled()

    dev_request = requests(team, DEV_MODEL)[0]
    assert {"crew_tasks", "crew_task_create", "crew_task_update", "crew_report",
            "crew_file_edit", "crew_lock", "crew_unlock", "crew_message",
            "crew_add_member"} <= tool_names(dev_request)
    assert not any(name.startswith("crew_") for name in tool_names(
        requests(team, REVIEW_MODEL)[0]))
    results = tool_results(team, DEV_MODEL)
    assert results[0] == ('[{"id": "' + mine["id"] + '", "title": "Build it", "status": '
                          f'"todo", "assignee": "@{dev["handle"]}"}}]')
    assert results[1] == ("error: this task is assigned to another member; ask the lead to "
                          "change it")
    assert '"status": "blocked"' in results[2]
    assert results[3] == ("error: only the crew's lead and sub-leads, the one who started it, "
                          "or a house admin may add members")
    assert results[4] == "error: nobody holds a lock on nothing"
    assert results[5] == "error: kind must be one of progress, completion, blocker, error"

    # The mention woke the developer as a member of the crew; the reviewer as itself.
    woke = [a for a in await team.activations(dev["id"]) if a.trigger_kind == "mention"]
    assert [(a.crew_id, a.crew_role) for a in woke] == [(crew_id, "developer")]
    other = [a for a in await team.activations(reviewer["id"]) if a.trigger_kind == "mention"]
    assert [(a.crew_id, a.crew_role) for a in other] == [(None, None)]


async def test_a_spawned_sub_agent_is_held_to_its_roles_models(team: Team) -> None:  # noqa: F811
    dev = team.dev
    crew_id = (await team.start())["id"]
    await team.settled()  # the briefing ran (default reply)
    r = await team.house.owner.put(f"/api/crews/{crew_id}/model-config",
                                   {"models": {"developer": [STRONG]}})
    assert r.status_code == 200, r.text
    team.fake.script(
        Reply("", tool_calls=[
            call("crew_add_member", agent=f"@{dev['handle']}", role="developer",
                 task="write the parser"),
            call("crew_add_member", agent=f"@{dev['handle']}", role="developer",
                 task="write the parser", model=STRONG, label="parser")]),
        Reply("Spawned."), Reply("NO_REPLY"), model=fake_name(LEAD_MODEL))
    team.fake.script(Reply("The parser is written."), model=fake_name(STRONG))
    await team.house.member.post(f"/api/agencies/{team.room_id}/messages", {
        "content": f"@{team.lead['handle']} get the parser written"})
    await team.settled()

    results = tool_results(team, LEAD_MODEL)
    assert results[0] == (f"error: @{dev['username']} would run on openai/fake-dev, which the "
                          "developer role of this crew does not allow; allowed models: "
                          f"{STRONG}")
    assert '"status": "accepted"' in results[1] and f'"model": "{STRONG}"' in results[1]
    async with team.server.shoal.db.read() as session:
        child = (await session.scalars(select(Subagent).where(
            Subagent.child_bot_id == dev["id"]))).one()
    assert (child.model, child.state, child.label) == (STRONG, "completed", "parser")
    assert requests(team, STRONG) and not requests(team, DEV_MODEL)
    crew = (await team.house.guest.get(f"/api/crews/{crew_id}")).json()
    assert {m["handle"]: m["role"] for m in crew["members"]}[f"@{dev['handle']}"] == "developer"
    kinds = [e["kind"] for e in reversed(crew["feed"]) if e["kind"] in (
        "model_denied", "member_joined")]
    assert kinds == ["member_joined", "model_denied", "member_joined"]
    ran = [a for a in await team.activations(dev["id"]) if a.trigger_kind == "subagent"]
    assert [(a.crew_id, a.crew_role) for a in ran] == [(crew_id, "developer")]


async def test_members_message_each_other_privately(team: Team) -> None:  # noqa: F811
    lead, dev = team.lead, team.dev
    crew_id = (await team.start(members=[{"agent": f"@{dev['handle']}", "role": "developer"},
                                         {"agent": f"@{team.secretary['handle']}",
                                          "role": "secretary"}]))["id"]
    team.fake.script(
        Reply("", tool_calls=[call("crew_message", to=f"@{dev['handle']}",
                                   text="Start on the parser."),
                              call("crew_message", to="nobody", text="hello")]),
        Reply("NO_REPLY"), Reply("NO_REPLY"), Reply("NO_REPLY"), model=fake_name(LEAD_MODEL))
    team.fake.script(
        Reply("", tool_calls=[call("crew_message", to="lead", text="On it."),
                              call("crew_message", to="crew", text="Parser in progress.")]),
        Reply("NO_REPLY"), model=fake_name(DEV_MODEL))
    await team.settled()

    told = [a for a in await team.activations(dev["id"]) if a.trigger_kind == "crew"]
    assert [(a.payload["prompt"], a.crew_role) for a in told] == [
        (f"Crew message from @{lead['username']} (Lead):\n\nStart on the parser.",
         "developer")]
    lead_told = [a.payload["prompt"] for a in await team.activations(lead["id"])
                 if a.trigger_kind == "crew"][1:]
    assert lead_told == [
        f"Crew message from @{dev['username']} (Developer):\n\nOn it.",
        f"Crew message from @{dev['username']} (Developer) to the crew:\n\nParser in progress."]
    secretary_told = [a.payload["prompt"] for a in await team.activations(
        team.secretary["id"]) if a.trigger_kind == "crew"]
    assert secretary_told == [
        f"Crew message from @{dev['username']} (Developer) to the crew:\n\nParser in progress."]
    assert "error: there is no agent 'nobody' in this house" in tool_results(team, LEAD_MODEL)
    feed = (await team.house.guest.get(f"/api/crews/{crew_id}/activity", params={
        "kind": ["dm", "message_to_lead", "group_message"]})).json()
    assert [(e["kind"], e["summary"]) for e in reversed(feed)] == [
        ("dm", f"Message → Developer (@{dev['handle']})"),
        ("message_to_lead", f"Message → Lead (@{lead['handle']})"),
        ("group_message", "Message → crew (2 members)")]
    # Nothing of it was posted in the room.
    r = await team.house.guest.get(f"/api/agencies/{team.room_id}/messages")
    assert not any("Parser in progress" in m["content"] for m in r.json())


async def test_waking_members_spends_the_conversations_budget(team: Team) -> None:  # noqa: F811
    lead, dev = team.lead, team.dev
    r = await team.house.owner.patch(f"/api/houses/{team.house.id}/settings",
                                     {"interaction_budget": 2})
    assert r.status_code == 200, r.text
    team.fake.script(Reply("NO_REPLY"), model=fake_name(LEAD_MODEL))  # the briefing
    crew_id = (await team.start(members=[{"agent": f"@{dev['handle']}",
                                          "role": "developer"}]))["id"]
    await team.settled()
    team.fake.script(
        Reply("", tool_calls=[call("crew_message", to=f"@{dev['handle']}", text="one"),
                              call("crew_message", to=f"@{dev['handle']}", text="two")]),
        Reply("NO_REPLY"), model=fake_name(LEAD_MODEL))
    team.fake.script(Reply("NO_REPLY"), model=fake_name(DEV_MODEL))
    await team.house.member.post(f"/api/agencies/{team.room_id}/messages", {
        "content": f"@{lead['handle']} tell the developer"})
    await team.settled()
    # The mention woke the lead (one wake), its first message the developer (the second).
    results = tool_results(team, LEAD_MODEL)
    assert results[1] == ("error: this conversation's budget of agent wakes is spent, so no "
                          "crew member can be woken in it; nothing was sent")
    told = [a.payload["prompt"] for a in await team.activations(dev["id"])
            if a.trigger_kind == "crew"]
    assert [p.rsplit("\n", 1)[-1] for p in told] == ["one"]
    feed = (await team.house.guest.get(f"/api/crews/{crew_id}/activity",
                                       params={"kind": "dm"})).json()
    assert [e["data"]["text"] for e in feed] == ["one"]
