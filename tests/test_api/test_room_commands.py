"""A room's commands for the composer: name, usage and description, by what the caller may run."""

from __future__ import annotations

import pytest

from tests.support import ShoalServer, make_house


async def test_members_get_usage_and_guests_only_read_only_commands(
        shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    r = await house.member.get(f"/api/agencies/{house.room_id}/commands")
    assert r.status_code == 200
    by_name = {c["name"]: c for c in r.json()}
    assert by_name["save"]["usage"] == "/save <key> <value...>"
    assert by_name["save"]["description"]
    assert by_name["roll"]["builtin"] is True
    r = await house.guest.get(f"/api/agencies/{house.room_id}/commands")
    names = {c["name"] for c in r.json()}
    assert "help" in names and "notes" in names and "save" not in names
    outsider = await shoal_server.register()
    r = await outsider.get(f"/api/agencies/{house.room_id}/commands")
    assert r.status_code == 404 and "error" in r.json()


async def test_a_houses_own_commands_are_listed_with_the_builtins(
        shoal_server: ShoalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shoal_server.shoal.settings, "outbound_allow_private", True)
    house = await make_house(shoal_server)
    r = await house.owner.post(f"/api/custom-commands/{house.room_id}/commands", {
        "name": "standup", "webhook_url": "http://127.0.0.1:9/standup",
        "description": "Post today's standup."})
    assert r.status_code == 201, r.text
    r = await house.member.get(f"/api/agencies/{house.room_id}/commands")
    by_name = {c["name"]: c for c in r.json()}
    assert by_name["standup"]["builtin"] is False
    assert by_name["standup"]["description"] == "Post today's standup."
    assert by_name["help"]["builtin"] is True
