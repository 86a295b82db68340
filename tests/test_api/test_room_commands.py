"""A room's commands for the composer: name, usage and description, by what the caller may run."""

from __future__ import annotations

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
