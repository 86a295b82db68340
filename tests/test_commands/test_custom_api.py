"""Registering a house's own commands: the contract's endpoints for the owner, and the rules on
names, webhooks and who may invoke."""

from __future__ import annotations

from typing import Any

import pytest

from shoal.commands.tables import CustomCommand
from tests.support import House, ShoalServer, make_house

SECRET = "never-show-me-0123"
VIEW_KEYS = {"id", "name", "description", "webhook_url", "invoke_permission",
             "invoke_whitelist", "created_at", "updated_at", "has_secret"}


def commands_url(house: House, where: str | None = None) -> str:
    return f"/api/custom-commands/{where or house.room_id}/commands"


async def test_the_owner_registers_lists_changes_and_removes_a_command(
        shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    r = await house.owner.post(commands_url(house), {
        "name": "/Standup", "webhook_url": "https://example.com/hooks/standup?key=k",
        "description": "Post the standup", "invoke_permission": "whitelist",
        "invoke_whitelist": ["@Alice", "bob", "alice"], "secret": SECRET})
    assert r.status_code == 201, r.text
    created = r.json()
    assert set(created) == VIEW_KEYS and SECRET not in r.text
    assert (created["name"], created["webhook_url"], created["description"]) == (
        "standup", "https://example.com/hooks/standup?key=k", "Post the standup")
    assert (created["invoke_permission"], created["invoke_whitelist"]) == (
        "whitelist", ["alice", "bob"])
    assert created["has_secret"] is True and created["created_at"].endswith("Z")

    # Any room of the house names it, and so does the house id.
    r = await house.owner.post("/api/agencies", {"name": "second", "houseId": house.id})
    for where in (house.room_id, r.json()["id"], house.id):
        listed = await house.owner.get(commands_url(house, where))
        assert listed.status_code == 200 and listed.json() == [created]

    one = f"{commands_url(house)}/{created['id']}"
    r = await house.owner.patch(one, {"invoke_permission": "open", "secret": None,
                                      "description": "Daily standup"})
    assert r.status_code == 200, r.text
    changed = r.json()
    assert (changed["invoke_permission"], changed["has_secret"]) == ("open", False)
    assert changed["description"] == "Daily standup" and changed["name"] == "standup"
    assert changed["invoke_whitelist"] == ["alice", "bob"]
    r = await house.owner.patch(one, {})
    assert r.status_code == 200 and r.json()["description"] == "Daily standup"

    r = await house.owner.delete(one)
    assert r.status_code == 200 and r.json() == {"ok": True, "id": created["id"]}
    assert (await house.owner.get(commands_url(house))).json() == []
    assert (await house.owner.delete(one)).status_code == 404


async def test_the_secret_is_stored_encrypted(shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    r = await house.owner.post(commands_url(house), {
        "name": "signed", "webhook_url": "https://example.com/x", "secret": SECRET})
    async with shoal_server.shoal.db.read() as session:
        row = await session.get(CustomCommand, r.json()["id"])
    assert row is not None and row.secret and SECRET not in row.secret
    assert shoal_server.shoal.secrets.decrypt(row.secret) == SECRET


@pytest.mark.parametrize(("body", "status", "error"), [
    ({"name": "roll"}, 409, "/roll is a built-in command; a house command cannot take its name"),
    ({"name": "/HELP"}, 409, "/help is a built-in command; a house command cannot take its name"),
    ({"name": "taken"}, 409, "this house already has a command /taken"),
    ({"name": "9lives"}, 400, "a command name is 1-32 letters"),
    ({"name": "two words"}, 400, "a command name is 1-32 letters"),
    ({"name": "x" * 33}, 400, "a command name is 1-32 letters"),
    ({"name": ""}, 400, "a command name is 1-32 letters"),
    ({"webhook_url": "ftp://example.com/x"}, 400, "webhook_url: only http:// and https://"),
    ({"webhook_url": "example.com/x"}, 400, "webhook_url: only http:// and https://"),
    ({"webhook_url": "https://exa mple.com"}, 400, "webhook_url must be an http(s) URL"),
    ({"webhook_url": "http://10.0.0.7/x"}, 400, "webhook_url points to a private"),
    ({"webhook_url": "http://[::1]:8080/x"}, 400, "webhook_url points to a private"),
    ({"invoke_permission": "everyone"}, 400, "invoke_permission"),
    ({"invoke_whitelist": ["ok", "not a name"]}, 400, "invoke_whitelist: 'not a name' is not"),
    ({"invoke_whitelist": "alice"}, 400, "invoke_whitelist"),
    ({"description": "x" * 501}, 400, "description"),
])
async def test_bad_registrations_say_what_is_wrong(
        shoal_server: ShoalServer, body: dict[str, Any], status: int, error: str) -> None:
    house = await make_house(shoal_server)
    good = {"name": "taken", "webhook_url": "https://example.com/taken"}
    assert (await house.owner.post(commands_url(house), good)).status_code == 201
    r = await house.owner.post(commands_url(house), {**good, "name": "fresh", **body})
    assert r.status_code == status and r.json()["error"].startswith(error), r.text
    # The same rules hold for a change.
    command_id = (await house.owner.get(commands_url(house))).json()[0]["id"]
    r = await house.owner.patch(f"{commands_url(house)}/{command_id}",
                                {"name": "fresh", **body} if "name" not in body else body)
    if body.get("name") == "taken":
        assert r.status_code == 200  # renaming a command to its own name changes nothing
    else:
        assert r.status_code == status and r.json()["error"].startswith(error), r.text


async def test_only_the_owner_manages_and_other_houses_commands_stay_hidden(
        shoal_server: ShoalServer) -> None:
    house, other = await make_house(shoal_server), await make_house(shoal_server)
    r = await other.owner.post(commands_url(other), {"name": "theirs",
                                                     "webhook_url": "https://example.com/t"})
    theirs = r.json()["id"]
    for person in (house.admin, house.member, house.guest):
        r = await person.get(commands_url(house))
        assert r.status_code == 403 and "needs owner" in r.json()["error"]
    r = await other.owner.get(commands_url(house))
    assert r.status_code == 404 and r.json() == {"error": "room not found"}
    # A command is reached only through its own house.
    r = await house.owner.patch(f"{commands_url(house)}/{theirs}", {"description": "mine"})
    assert r.status_code == 404 and r.json() == {"error": "command not found"}
    assert (await house.owner.delete(f"{commands_url(house)}/{theirs}")).status_code == 404
    assert (await other.owner.get(commands_url(other))).json()[0]["description"] == ""


async def test_a_private_room_the_owner_is_not_in_does_not_name_the_house(
        shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    r = await house.member.post("/api/agencies", {"name": "hideout", "houseId": house.id,
                                                  "isPrivate": True})
    r = await house.owner.get(commands_url(house, r.json()["id"]))
    assert r.status_code == 404
