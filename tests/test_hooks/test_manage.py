"""House admins create, list, change, rotate and revoke hooks; keys and secrets are shown once
and never again."""

from __future__ import annotations

from typing import Any

import pytest

from shoal.hooks.tables import Hook
from shoal.rooms.rooms import create_room, join_room
from tests.support import House, ShoalServer, make_house, unique
from tests.test_hooks.conftest import keyed, make_hook


async def stored(server: ShoalServer, hook_id: str) -> Hook:
    async with server.shoal.db.read() as session:
        hook = await session.get(Hook, hook_id)
    assert hook is not None
    return hook


async def test_the_key_and_a_generated_secret_are_shown_once(shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    r = await house.owner.post("/api/agencies", {"name": unique("ops"), "houseId": house.id})
    ops = r.json()
    r = await house.admin.post(f"/api/houses/{house.id}/hooks", {
        "name": "  Grafana  ", "rooms": [f"#{ops['slug']}", house.room_id, ops["id"]],
        "template": "@oncall {{ title }}"})
    assert r.status_code == 201, r.text
    made = r.json()
    key, secret = made["key"], made["secret"]
    assert made["name"] == "Grafana" and made["room_ids"] == [ops["id"], house.room_id]
    assert made["created_by"] == house.admin.id and made["revoked_at"] is None
    assert made["endpoints"] == {"messages": "/api/hooks/messages",
                                 "github": f"/api/hooks/{made['id']}/github",
                                 "sentry": f"/api/hooks/{made['id']}/sentry",
                                 "generic": f"/api/hooks/{made['id']}/generic"}
    row = await stored(shoal_server, made["id"])
    assert key not in row.key_hash and secret not in row.secret
    assert shoal_server.shoal.secrets.decrypt(row.secret) == secret

    listed = await house.owner.get(f"/api/houses/{house.id}/hooks")
    shown = await house.owner.get(f"/api/houses/{house.id}/hooks/{made['id']}")
    changed = await house.owner.patch(f"/api/houses/{house.id}/hooks/{made['id']}",
                                      {"name": "Grafana prod"})
    for r in (listed, shown, changed):
        assert r.status_code == 200, r.text
        assert key not in r.text and secret not in r.text and "secret" not in r.text
    assert [h["id"] for h in listed.json()] == [made["id"]]
    assert shown.json() == {k: v for k, v in made.items() if k not in ("key", "secret")}

    # A secret the sender gave (Sentry's client secret) is kept, and not echoed back.
    r = await house.owner.post(f"/api/houses/{house.id}/hooks", {
        "name": "Sentry", "rooms": [house.room_id], "secret": "sentry-client-secret-1"})
    assert r.status_code == 201 and "secret" not in r.json(), r.text
    row = await stored(shoal_server, r.json()["id"])
    assert shoal_server.shoal.secrets.decrypt(row.secret) == "sentry-client-secret-1"


async def test_changes_keep_the_key_and_a_revoked_hook_stays_revoked(
    shoal_server: ShoalServer,
) -> None:
    house = await make_house(shoal_server)
    r = await house.owner.post("/api/agencies", {"name": unique("ops"), "houseId": house.id})
    ops = r.json()
    hook = await make_hook(house)
    base = f"/api/houses/{house.id}/hooks/{hook['id']}"
    r = await house.admin.patch(base, {"name": "Renamed", "rooms": [ops["slug"]],
                                       "template": "{{ text }}", "secret": "a-new-secret"})
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["room_ids"], r.json()["template"]) == (
        "Renamed", [ops["id"]], "{{ text }}")
    row = await stored(shoal_server, hook["id"])
    assert shoal_server.shoal.secrets.decrypt(row.secret) == "a-new-secret"
    r = await keyed(shoal_server, hook["key"]).post("/api/hooks/messages",
                                                    json={"content": "still me"})
    assert r.status_code == 201 and r.json()["agency_id"] == ops["id"], r.text
    assert r.json()["sender_display_name"] == "Renamed"

    r = await house.admin.delete(base)
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    again = await house.admin.delete(base)
    assert again.json()["revoked_at"] == r.json()["revoked_at"]
    for method, path, body in (("PATCH", base, {"name": "back"}),
                               ("POST", f"{base}/rotate", None)):
        r = await house.admin.http.request(method, path, json=body)
        assert (r.status_code, r.json()) == (409, {"error": "this hook has been revoked; "
                                                            "create a new one"})
    # Its name is free again for a new hook.
    assert (await make_hook(house, name="Renamed"))["name"] == "Renamed"
    r = await house.owner.get(f"/api/houses/{house.id}/hooks")
    assert [(h["name"], h["revoked_at"] is None) for h in r.json()] == [("Renamed", False),
                                                                        ("Renamed", True)]


async def test_a_null_template_means_none(shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    hook = await make_hook(house, template=None)
    assert hook["template"] == ""
    base = f"/api/houses/{house.id}/hooks/{hook['id']}"
    r = await house.admin.patch(base, {"template": "alert: {{ text }}"})
    assert r.status_code == 200 and r.json()["template"] == "alert: {{ text }}", r.text
    r = await house.admin.patch(base, {"name": "Kept template"})
    assert r.json()["template"] == "alert: {{ text }}"
    r = await house.admin.patch(base, {"template": None})
    assert r.status_code == 200 and r.json()["template"] == "", r.text
    r = await keyed(shoal_server, hook["key"]).post("/api/hooks/messages",
                                                    json={"content": "disk full"})
    assert r.status_code == 201 and r.json()["content"] == "disk full", r.text


async def _bad_bodies(house: House, server: ShoalServer) -> list[tuple[dict[str, Any], str]]:
    r = await house.member.post("/api/agencies", {"name": unique("secret"),
                                                  "houseId": house.id, "isPrivate": True})
    private = r.json()
    other = await make_house(server)
    return [
        ({"rooms": []}, "rooms must name at least one room"),
        ({"rooms": ["nowhere"]}, "rooms: 'nowhere' is not a room of this house"),
        ({"rooms": [other.room_id]}, f"rooms: {other.room_id!r} is not a room of this house"),
        # The admin is not in the member's private room: to them it does not exist.
        ({"rooms": [private["id"]]}, f"rooms: {private['id']!r} is not a room of this house"),
        ({"name": " "}, "name must be 1-64 characters"),
        ({"name": "x" * 65}, "name must be 1-64 characters"),
        ({"secret": "short"}, "secret must be 8-256 characters"),
        ({"template": "{{ a b }}"}, "template placeholder '{{ a b }}' must name a field, "
                                    "like {{ issue.title }} or {{ commits.0.message }}"),
        ({"template": "{{ open"}, "template has an unclosed {{ or a stray }}"),
        ({"template": "x" * 4001}, "template is 4001 characters; the limit is 4000"),
    ]


async def test_bad_hooks_are_refused_with_the_reason(shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    existing = await make_hook(house, name="Taken")
    for change, error in await _bad_bodies(house, shoal_server):
        body = {"name": unique("hook"), "rooms": [house.room_id], **change}
        r = await house.admin.post(f"/api/houses/{house.id}/hooks", body)
        assert (r.status_code, r.json()) == (400, {"error": error}), change
        r = await house.admin.patch(f"/api/houses/{house.id}/hooks/{existing['id']}", change)
        assert (r.status_code, r.json()) == (400, {"error": error}), change
    r = await house.admin.post(f"/api/houses/{house.id}/hooks",
                               {"name": "Taken", "rooms": [house.room_id]})
    assert (r.status_code, r.json()) == (409, {"error": "this house already has a hook called "
                                                        "'Taken'"})
    # The owner is in this DM of the house, and still may not point a hook at it.
    async with shoal_server.shoal.db.write() as session:
        dm = await create_room(session, house.id, unique("dm"), house.owner.id,
                               is_private=True, is_dm=True)
        await join_room(session, dm.id, house.member.id)
    r = await house.owner.post(f"/api/houses/{house.id}/hooks", {"name": "dm",
                                                                 "rooms": [dm.id]})
    assert (r.status_code, r.json()) == (400, {"error": "rooms: a hook cannot post into a "
                                                        "direct message"})
    r = await house.owner.get(f"/api/houses/{house.id}/hooks")
    assert [h["name"] for h in r.json()] == ["Taken"]


@pytest.mark.parametrize("role", ["member", "guest"])
async def test_below_admin_nobody_sees_or_makes_hooks(shoal_server: ShoalServer,
                                                       role: str) -> None:
    house = await make_house(shoal_server)
    hook = await make_hook(house)
    person = getattr(house, role)
    r = await person.post(f"/api/houses/{house.id}/hooks", {"name": "mine",
                                                            "rooms": [house.room_id]})
    assert (r.status_code, r.json()) == (403, {"error": f"your role ({role}) may not manage "
                                                        "hooks; it needs admin or above"})
    r = await person.get(f"/api/houses/{house.id}/hooks/{hook['id']}")
    assert r.status_code == 403
    other = await make_house(shoal_server)
    r = await other.owner.get(f"/api/houses/{house.id}/hooks/{hook['id']}")
    assert r.status_code == 404
    r = await other.owner.get(f"/api/houses/{other.id}/hooks/{hook['id']}")
    assert (r.status_code, r.json()) == (404, {"error": "hook not found"})
