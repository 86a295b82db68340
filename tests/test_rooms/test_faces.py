"""A face for every member: avatars drawn from the name or uploaded, a bot's emoji, in
messages and member lists."""

from __future__ import annotations

import os

from tests.support import ShoalServer, make_house, unique
from tests.test_rooms.test_attachments import PNG


async def test_a_drawn_avatar_then_an_uploaded_one_in_messages_and_members(
        shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    ada = await shoal_server.register(display_name="Ada Lovelace")
    r = await house.owner.post(f"/api/houses/{house.id}/invites", {"role": "member"})
    await ada.post("/api/houses/join", {"code": r.json()["code"]})
    r = await ada.post(f"/api/agencies/{house.room_id}/messages", {"content": "hi"})
    message = r.json()
    assert message["sender_avatar_url"] == f"/api/users/{ada.id}/avatar"
    assert message["sender_emoji"] is None
    drawn = await house.member.get(message["sender_avatar_url"])
    assert drawn.status_code == 200 and drawn.headers["content-type"] == "image/svg+xml"
    assert ">AL</text>" in drawn.text and "hsl(" in drawn.text
    # The same colour for every viewer; another member gets another.
    assert (await house.owner.get(message["sender_avatar_url"])).text == drawn.text
    other = (await house.member.get(f"/api/users/{house.member.id}/avatar")).text
    assert other.split("fill=")[1] != drawn.text.split("fill=")[1]
    assert (await house.member.get("/api/users/nobody/avatar")).status_code == 404

    r = await ada.http.put("/api/me/avatar", files={"file": ("me.png", PNG, "image/png")})
    assert r.status_code == 200, r.text
    url = r.json()["avatar_url"]
    assert url.startswith(f"/api/users/{ada.id}/avatar?v=")
    got = await house.member.get(url)
    assert got.content == PNG and got.headers["content-type"] == "image/png"
    members = (await house.member.get(f"/api/agencies/{house.room_id}/members")).json()
    assert next(m for m in members if m["id"] == ada.id)["avatar_url"] == url
    history = (await house.member.get(f"/api/agencies/{house.room_id}/messages")).json()
    assert history[0]["sender_avatar_url"] == url
    stored = shoal_server.shoal.files.path(url.split("?v=")[1])
    assert stored.exists()

    r = await ada.http.put("/api/me/avatar", files={"file": ("me.txt", b"hi", "text/plain")})
    assert r.status_code == 415 and "an avatar must be an image" in r.json()["error"]
    r = await ada.http.put("/api/me/avatar", files={
        "file": ("big.png", os.urandom(2 * 1024 * 1024 + 1), "image/png")})
    assert r.status_code == 413
    r = await ada.delete("/api/me/avatar")
    assert r.json()["avatar_url"] == f"/api/users/{ada.id}/avatar"
    assert (await house.member.get(r.json()["avatar_url"])).text == drawn.text
    assert not stored.exists()  # the old image is gone


async def test_a_bot_has_an_emoji_and_its_owner_gives_it_an_avatar(
        shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    r = await house.member.post("/api/agents", {"name": unique("Crab "),
                                                "agencyId": house.room_id})
    bot = r.json()["agent"]
    assert (await house.member.post(f"/api/agents/{bot['id']}/verify")).status_code == 200
    r = await house.member.patch(f"/api/agents/{bot['id']}/config",
                                 {"identity": {"emoji": "🦀"}})
    assert r.status_code == 200, r.text
    assert r.json()["config"]["identity"] == {"emoji": "🦀"}
    r = await house.member.patch(f"/api/agents/{bot['id']}/config",
                                 {"identity": {"emoji": "crab"}})
    assert r.status_code == 400 and "not one emoji" in r.json()["error"]
    members = (await house.owner.get(f"/api/agencies/{house.room_id}/members")).json()
    assert next(m for m in members if m["id"] == bot["id"])["emoji"] == "🦀"
    assert next(m for m in members if m["id"] == house.owner.id)["emoji"] is None

    r = await house.guest.http.put(f"/api/agents/{bot['id']}/avatar",
                                   files={"file": ("c.png", PNG, "image/png")})
    assert r.status_code == 403
    r = await house.member.http.put(f"/api/agents/{bot['id']}/avatar",
                                    files={"file": ("c.png", PNG, "image/png")})
    assert r.status_code == 200, r.text
    assert (await house.guest.get(r.json()["avatar_url"])).content == PNG
