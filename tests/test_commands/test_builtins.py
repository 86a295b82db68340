"""Each built-in command, run the way people and agents run it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from shoal.commands.builtins import register_builtins
from shoal.commands.registry import CommandRegistry
from shoal.schedules.commands import register_schedule_commands
from shoal.subagents.command import register_subagent_commands
from tests.support import ShoalServer, make_house, unique
from tests.test_tools.mcp_servers import demo_server, serve_mcp


async def run(sock, room_id: str, text: str) -> dict:  # type: ignore[no-untyped-def]
    return await sock.call("send-message", {"agencyId": room_id, "content": text})  # type: ignore[no-any-return]


SUBAGENT_TESTS = Path(__file__).parents[1] / "test_subagents" / "test_control.py"
CREW_TESTS = Path(__file__).parents[1] / "test_crew" / "test_commands.py"


def test_every_command_has_help_texts_and_a_test(shoal_server: ShoalServer) -> None:
    registry = CommandRegistry()
    register_builtins(registry)
    register_schedule_commands(registry)
    register_subagent_commands(registry)
    served = {c.name for c in shoal_server.shoal.commands.all()}
    assert {c.name for c in registry.all()} | {"crew", "task"} == served
    tested = Path(__file__).read_text() + SUBAGENT_TESTS.read_text() + CREW_TESTS.read_text()
    for command in shoal_server.shoal.commands.all():
        assert command.description and command.description.endswith(".")
        assert command.usage.startswith(f"/{command.name}")
        assert command.example.startswith(f"/{command.name}")
        assert re.search(rf"[\"']/{command.name}\b", tested), f"/{command.name} has no test"


async def test_help_lists_every_command_and_explains_one(shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    sock = await house.guest.socket()  # reading help needs no more than a guest's role
    listing = await run(sock, house.room_id, "/help")
    assert listing["ok"] and listing["ephemeral"]
    for name in shoal_server.shoal.commands.all():
        assert name.usage in listing["content"]
    one = await run(sock, house.room_id, "/help save")
    assert one["content"] == ("/save <key> <value...>\nSave a note for this room under a key.\n"
                              "Example: /save deploy-day Thursday")
    missing = await run(sock, house.room_id, "/help nope")
    assert missing["ok"] is False and "there is no command /nope" in missing["error"]


async def test_notes_save_get_list_and_clear(shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    sock = await house.member.socket()
    assert (await run(sock, house.room_id, "/notes"))["content"].startswith("No notes")
    saved = await run(sock, house.room_id, "/save deploy-day Thursday, after   standup")
    assert saved["ok"] and saved["content"] == "Saved note deploy-day."
    got = await run(sock, house.room_id, "/get deploy-day")
    assert got["content"] == "deploy-day: Thursday, after   standup"
    await run(sock, house.room_id, "/save owner alice")
    assert (await run(sock, house.room_id, "/notes"))["content"] == "Notes: deploy-day, owner"
    # Notes belong to the room: another member sees them, a guest may read but not write.
    guest = await house.guest.socket()
    assert (await run(guest, house.room_id, "/get owner"))["content"] == "owner: alice"
    refused = await run(guest, house.room_id, "/save owner mallory")
    assert refused["ok"] is False and "guest" in refused["error"]
    cleared = await run(sock, house.room_id, "/clearnote owner")
    assert cleared["content"] == "Cleared note owner."
    gone = await run(sock, house.room_id, "/get owner")
    assert gone["ok"] is False and "there is no note owner" in gone["error"]


async def test_memory_lists_searches_and_forgets_an_agents_notes(shoal_server: ShoalServer
                                                                  ) -> None:
    house = await make_house(shoal_server)
    r = await house.member.post("/api/agents", {"name": unique("Keeper"),
                                                "agencyId": house.room_id})
    assert r.status_code == 201, r.text
    bot = r.json()["agent"]
    handle = "@" + bot["username"]
    sock = await house.member.socket()  # the agent's owner
    assert "has no notes" in (await run(sock, house.room_id, f"/memory {handle}"))["content"]
    # /save notes are room memory: the agent finds them, and a note it saves is listed.
    await run(sock, house.room_id, "/save deploy-day Thursday after standup")
    from shoal.store.tables import User
    from shoal.tools.base import ToolScope
    shoal = shoal_server.shoal
    async with shoal.db.read() as session:
        agent = await session.get(User, bot["id"])
    assert agent is not None
    tools = {t.name: t for t in (await shoal.tools.gather(
        ToolScope(agent, house.id, house.room_id))).tools}
    assert "deploy-day: Thursday" in await tools["memory_search"].run({"query": "deploy day"})
    saved = await tools["memory_save"].run({"text": "Carol reviews the billing changes"})
    note_id = saved.split()[2]
    listed = await run(sock, house.room_id, f"/memory {handle} list")
    assert listed["ephemeral"] and "Carol reviews the billing changes" in listed["content"]
    found = await run(sock, house.room_id, f"/memory {handle} search billing reviewer")
    assert note_id in found["content"]
    admin = await house.admin.socket()
    assert note_id in (await run(admin, house.room_id, f"/memory {handle}"))["content"]
    guest = await house.guest.socket()
    refused = await run(guest, house.room_id, f"/memory {handle} list")
    assert refused["ok"] is False and "owner or a house admin" in refused["error"]
    forgot = await run(sock, house.room_id, f"/memory {handle} forget {note_id}")
    assert forgot["content"].startswith("Forgot note")
    assert note_id not in (await run(sock, house.room_id, f"/memory {handle}"))["content"]
    unknown = await run(sock, house.room_id, f"/memory {handle} rewrite")
    assert unknown["ok"] is False and "list, search <query> or forget <id>" in unknown["error"]


async def test_echo_and_roll(shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    sock = await house.member.socket()
    assert (await run(sock, house.room_id, '/echo  keep  "spacing" --as-is'))["content"] == (
        'keep  "spacing" --as-is')
    rolled = await run(sock, house.room_id, "/roll 4d6")
    numbers = [int(n) for n in re.findall(r"\d+", rolled["content"].split(":", 1)[1])]
    assert len(numbers) == 5 and sum(numbers[:4]) == numbers[4]
    assert all(1 <= n <= 6 for n in numbers[:4])
    too_many = await run(sock, house.room_id, "/roll 1000d6")
    assert too_many["ok"] is False


async def test_who_lists_members_with_presence(shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    await house.admin.post(f"/api/agencies/{house.room_id}/join")
    owner_sock = await house.owner.socket()
    await owner_sock.join(house.room_id)
    result = await run(owner_sock, house.room_id, "/who")
    assert result["ephemeral"]
    owner_handle = next(m["handle"] for m in result["metadata"]["members"]
                        if m["id"] == house.owner.id)
    assert f"@{owner_handle} (user, owner) - online" in result["content"]
    assert any(m["id"] == house.admin.id and not m["online"]
               for m in result["metadata"]["members"])


async def test_agency_create_makes_a_room_and_tells_its_creator(
    shoal_server: ShoalServer,
) -> None:
    house = await make_house(shoal_server)
    sock = await house.member.socket()
    name = unique("Design ")
    result = await run(sock, house.room_id, f'/agency create "{name}" --private')
    assert result["ok"], result
    [invited] = await sock.wait_for("agency-invited")
    room_id = invited["agencyId"]
    r = await house.member.get(f"/api/agencies/{room_id}")
    assert r.json()["name"] == name and r.json()["is_private"] is True
    # Private: the other members of the house do not see it.
    assert (await house.admin.get(f"/api/agencies/{room_id}")).status_code == 404
    bad = await run(sock, house.room_id, "/agency destroy x")
    assert bad["ok"] is False and "Usage: /agency <action> <name>" in bad["error"]


async def test_invite_adds_a_house_member_to_the_room(shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    r = await house.member.post("/api/agencies", {"name": unique("secret"), "isPrivate": True,
                                                  "houseId": house.id})
    room_id = r.json()["id"]
    admin_sock = await house.admin.socket()
    members = await house.owner.get(f"/api/houses/{house.id}/members")
    assert members.status_code == 200, members.text
    admin_handle = next(m["handle"] for m in members.json() if m["id"] == house.admin.id)
    assert (await house.admin.get(f"/api/agencies/{room_id}")).status_code == 404
    sock = await house.member.socket()
    result = await run(sock, room_id, f"/invite @{admin_handle}")
    assert result["ok"], result
    [invited] = await admin_sock.wait_for("agency-invited")
    assert invited["agencyId"] == room_id
    assert (await house.admin.get(f"/api/agencies/{room_id}")).status_code == 200
    again = await run(sock, room_id, f"/invite @{admin_handle}")
    assert "already in" in again["content"]
    nobody = await run(sock, room_id, "/invite @no-such-person")
    assert nobody["ok"] is False and "no one in this house" in nobody["error"]


async def agent_config(person: Any, bot_id: str) -> dict[str, Any]:
    r = await person.get(f"/api/agents/{bot_id}/config")
    assert r.status_code == 200, r.text
    return r.json()["config"]  # type: ignore[no-any-return]


async def test_boot_creates_a_builtin_agent_in_the_house_and_room(
    shoal_server: ShoalServer,
) -> None:
    house = await make_house(shoal_server)
    sock = await house.member.socket()
    booted = await run(sock, house.room_id,
                       '/boot "Research Helper" --persona "You summarise papers, briefly."')
    assert booted["ok"], booted
    agent = booted["metadata"]["agent"]
    assert f"mention its handle, {agent['handle']}" in booted["content"]
    [listed] = (await house.member.get("/api/agents")).json()
    assert listed["id"] == agent["id"] and listed["display_name"] == "Research Helper"
    assert listed["verified"] is True and listed["owner_id"] == house.member.id
    config = await agent_config(house.member, agent["id"])
    assert config["runtime"] == "builtin"
    assert config["system_prompt"] == config["personality"] == "You summarise papers, briefly."
    members = (await house.member.get(f"/api/agencies/{house.room_id}/members")).json()
    assert any(m["id"] == agent["id"] and m["type"] == "agent" for m in members)
    guest = await run(await house.guest.socket(), house.room_id, "/boot Nope")
    assert guest["ok"] is False and "guest" in guest["error"]
    empty = await run(sock, house.room_id, "/boot Scout --persona")
    assert empty["ok"] is False and "--persona needs a text" in empty["error"]


async def test_agent_customize_changes_a_setting_for_its_owner_or_an_admin(
    shoal_server: ShoalServer,
) -> None:
    house = await make_house(shoal_server)
    sock = await house.member.socket()
    agent = (await run(sock, house.room_id, "/boot Scout"))["metadata"]["agent"]
    handle = agent["handle"]
    done = await run(sock, house.room_id,
                     f'/agent customize @{handle} system_prompt "Answer in one line."')
    assert done["ok"] and done["content"].endswith("set system_prompt of Scout.")
    await run(sock, house.room_id, f"/agent customize @{handle} trigger_mode ambient")
    await run(sock, house.room_id, f"/agent customize @{handle} max_hops 5")
    await run(sock, house.room_id,
              f"/agent customize @{handle} fallbacks offline/shoal-offline, ollama/llama3.2")
    await run(sock, house.room_id, f"/agent customize @{handle} ollama_model qwen2.5")
    admin = await run(await house.admin.socket(), house.room_id,
                      f'/agent customize @{handle} tools {{"deny":["clearnote"]}}')
    assert admin["ok"], admin
    config = await agent_config(house.member, agent["id"])
    assert config["system_prompt"] == "Answer in one line."
    assert config["trigger_mode"] == "ambient" and config["max_hops"] == 5
    assert config["model"] == {"primary": "ollama/qwen2.5",
                               "fallbacks": ["offline/shoal-offline", "ollama/llama3.2"]}
    assert config["ollama_model"] == "qwen2.5"
    assert config["tools"] == {"allow": ["*"], "deny": ["clearnote"], "approval": []}
    await run(sock, house.room_id, f"/agent customize @{handle} model offline/shoal-offline")
    assert (await agent_config(house.member, agent["id"]))["model"]["fallbacks"] == [
        "offline/shoal-offline", "ollama/llama3.2"]
    opened = await run(sock, house.room_id, f"/agent customize {handle} prompt_permission closed")
    assert opened["ok"], opened
    assert (await agent_config(house.member, agent["id"]))["trigger_policy"] == "closed"
    await run(sock, house.room_id, f"/agent customize {handle} prompt_permission open")
    assert (await agent_config(house.member, agent["id"]))["trigger_policy"] == "open"

    other = await run(await house.owner.socket(), house.room_id, "/boot Rival")
    assert other["ok"], other
    refused = await run(sock, house.room_id,
                        f"/agent customize @{other['metadata']['agent']['handle']} max_hops 3")
    assert refused["ok"] is False and "owner or a house admin" in refused["error"]
    for text, error in [
        (f"/agent customize @{handle} response_webhook_secret s3cret", "is a secret"),
        (f"/agent customize @{handle} colour red", "unknown key 'colour'"),
        (f"/agent customize @{handle} max_hops lots", "max_hops must be a whole number"),
        (f"/agent customize @{handle} busy_policy panic", "busy_policy"),
        (f"/agent customize @{handle} model nowhere/x", "unknown provider 'nowhere'"),
        (f"/agent customize @{handle} response_webhook_url ftp://x", "response_webhook_url"),
        ("/agent customize @no-such-bot max_hops 3", "no agent in this house"),
        (f"/agent rename @{handle} x y", "the action is customize"),
    ]:
        answer = await run(sock, house.room_id, text)
        assert answer["ok"] is False and error in answer["error"], (text, answer)
    assert "s3cret" not in str(await agent_config(house.member, agent["id"]))


async def test_schedules_are_for_admins(shoal_server: ShoalServer) -> None:
    # Every form of '/heartbeat' and '/cron' is tested in tests/test_scheduler.
    house = await make_house(shoal_server)
    admin = await house.admin.socket()
    assert (await run(admin, house.room_id, "/heartbeat"))["content"].startswith("No heartbeats")
    member = await house.member.socket()
    refused = await run(member, house.room_id, "/heartbeat")
    assert refused["ok"] is False and "only house admins and owners" in refused["error"]


async def test_bind_and_unbind_a_room_to_an_agent(shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    admin = await house.admin.socket()
    booted = await run(await house.owner.socket(), house.room_id, '/boot "Front Desk"')
    handle = booted["metadata"]["agent"]["handle"]
    member = await run(await house.member.socket(), house.room_id, f"/bind @{handle}")
    assert member["ok"] is False and "your role (member) may not moderate" in member["error"]
    unknown = await run(admin, house.room_id, "/bind @no-such-desk")
    assert unknown["ok"] is False and "no agent in this house is @no-such-desk" in unknown["error"]
    assert (await run(admin, house.room_id, "/unbind"))["content"] == (
        f"#{(await house.admin.get(f'/api/agencies/{house.room_id}')).json()['slug']} is not "
        "bound to an agent.")

    bound = await run(admin, house.room_id, f"/bind @{handle}")
    assert bound["ok"], bound
    assert "now answers every message here without being mentioned" in bound["content"]
    assert "@" not in bound["content"]  # a posted mention would wake the agent
    assert bound["metadata"]["binding"]["handle"] == handle
    room = (await house.guest.get(f"/api/agencies/{house.room_id}")).json()
    assert room["binding"]["handle"] == handle
    who = await run(await house.guest.socket(), house.room_id, "/who")
    assert f"Bound to @{handle}: it answers every message here." in who["content"]

    unbound = await run(admin, house.room_id, "/unbind")
    assert unbound["ok"] and "answers here only when mentioned" in unbound["content"]
    assert (await house.guest.get(f"/api/agencies/{house.room_id}")).json()["binding"] is None
    assert "Bound to" not in (await run(admin, house.room_id, "/who"))["content"]


async def test_mcp_lists_the_servers_and_calls_a_tool(shoal_server: ShoalServer,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shoal_server.shoal.settings, "outbound_allow_private", True)
    house = await make_house(shoal_server)
    sock = await house.member.socket()
    assert (await run(sock, house.room_id, "/mcp"))["content"] == \
        "This house has no MCP servers."
    async with serve_mcp(demo_server()) as served:
        r = await house.owner.post(f"/api/houses/{house.id}/mcp-servers",
                                   {"name": "demo", "url": served.url})
        assert r.status_code == 201, r.text
        listing = await run(sock, house.room_id, "/mcp")
        assert listing["ok"] and listing["content"].startswith("MCP servers:\ndemo (ready): add")
        added = await run(sock, house.room_id, '/mcp demo add {"a": 20, "b": 22}')
        assert added["ok"] and added["content"] == '42\n{"result": 42}'
        failed = await run(sock, house.room_id, '/mcp demo fail {"reason": "no disk"}')
        assert failed["ok"] is False and "no disk" in failed["error"]
        bad = await run(sock, house.room_id, "/mcp demo add [1, 2]")
        assert bad["ok"] is False and "one JSON object" in bad["error"]
        missing = await run(sock, house.room_id, "/mcp nowhere add")
        assert missing["ok"] is False and "no MCP server named 'nowhere'" in missing["error"]
