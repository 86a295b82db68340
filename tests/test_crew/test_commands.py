"""/crew and /task, run by people in the room."""

from __future__ import annotations

from typing import Any

from tests.support import Socket
from tests.test_crew.team import Team, fake, fake_server, team  # noqa: F401  (fixtures)


async def run(sock: Socket, room_id: str, text: str) -> dict[str, Any]:
    return await sock.call("send-message", {"agencyId": room_id, "content": text})  # type: ignore[no-any-return]


async def test_crew_start_add_status_remove_end(team: Team) -> None:  # noqa: F811
    member = await team.house.member.socket()
    guest = await team.house.guest.socket()
    room = team.room_id
    none = await run(member, room, "/crew status")
    assert none["ok"] is False and "this room has no active crew" in none["error"]
    refused = await run(guest, room, f"/crew start @{team.lead['handle']} ship it")
    assert refused["ok"] is False and "your role (guest) may not post" in refused["error"]
    usage = await run(member, room, "/crew start")
    assert usage["ok"] is False and "/crew start <@lead> <goal...>" in usage["error"]

    started = await run(member, room, f"/crew start @{team.lead['handle']} Ship the login "
                                      "page, keep sign-up working")
    assert started["ok"], started
    assert started["content"] == ("Crew started: Ship the login page, keep sign-up working\n"
                                  f"Lead: {team.lead['handle']}")
    crew_id = started["metadata"]["crew"]["id"]
    added = await run(member, room, f"/crew add @{team.dev['handle']} developer")
    assert added["content"] == f"{team.dev['handle']} joined the crew as developer."
    wrong = await run(member, room, f"/crew add @{team.reviewer['handle']} juggler")
    assert wrong["ok"] is False and "there is no crew role 'juggler'" in wrong["error"]
    not_allowed = await run(guest, room, f"/crew add @{team.reviewer['handle']} developer")
    assert not_allowed["ok"] is False and "may add members" in not_allowed["error"]

    status = await run(guest, room, "/crew status")
    assert status["ok"] and status["ephemeral"]
    lines = status["content"].splitlines()
    assert lines[0] == f"Crew {crew_id} (active): Ship the login page, keep sign-up working"
    assert lines[1].startswith(f"Lead: {team.lead['handle']} · running ")
    assert f"| {team.dev['handle']} | developer | idle | - | - |" in lines

    removed = await run(member, room, f"/crew remove @{team.dev['handle']}")
    assert removed["content"] == f"{team.dev['handle']} left the crew."
    odd = await run(member, room, "/crew dance")
    assert odd["ok"] is False and "unknown action 'dance'" in odd["error"]
    ended = await run(member, room, "/crew end")
    assert ended["content"] == "The crew ended; its board and feed stay readable."
    view = (await team.house.guest.get(f"/api/crews/{crew_id}")).json()
    assert view["state"] == "ended"
    assert (await run(member, room, "/crew end"))["ok"] is False
    await team.settled()


async def test_task_add_assign_set_and_list(team: Team) -> None:  # noqa: F811
    member = await team.house.member.socket()
    guest = await team.house.guest.socket()
    room = team.room_id
    assert "no active crew" in (await run(member, room, "/task"))["error"]
    await team.start(members=[{"agent": f"@{team.dev['handle']}", "role": "developer"}])
    assert (await run(member, room, "/task"))["content"] == "The board is empty."

    added = await run(member, room, "/task add Write the migration | carefully")
    assert added["ok"], added
    task_id = added["metadata"]["task"]["id"]
    assert added["content"] == f"Task added: Write the migration | carefully ({task_id[-8:]})"
    assert (await run(guest, room, "/task add sneaky"))["ok"] is False
    assigned = await run(member, room, f"/task assign {task_id[-8:]} @{team.dev['handle']}")
    assert assigned["content"] == (
        f"Task Write the migration | carefully: todo, {team.dev['handle']}")
    done = await run(member, room, f"/task set {task_id[-8:]} done")
    assert done["metadata"]["task"] == {"id": task_id, "status": "done",
                                        "assignee_id": team.dev["id"]}
    bad = await run(member, room, f"/task set {task_id[-8:]} finished")
    assert bad["ok"] is False and "status must be one of todo, in_progress, blocked, done" in \
        bad["error"]
    missing = await run(member, room, "/task set abcd done")
    assert missing["ok"] is False and "this crew has no task abcd" in missing["error"]
    listing = await run(guest, room, "/task list")
    assert listing["ephemeral"] and listing["content"].splitlines()[2] == (
        f"| {task_id[-8:]} | Write the migration \\| carefully | done | {team.dev['handle']} |")
    await team.settled()
