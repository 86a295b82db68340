"""The room events people's clients rely on: edits, deletes, presence, members, thinking, DMs."""

from __future__ import annotations

import socketio

from tests.support import ShoalServer, make_house


async def test_edits_and_deletes_reach_the_room(shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    author, watcher = await house.member.socket(), await house.admin.socket()
    await author.join(house.room_id)
    await watcher.join(house.room_id)
    sent = await author.call("send-message", {"agencyId": house.room_id, "content": "hi @nobody"})
    ack = await author.call("edit-message", {"agencyId": house.room_id,
                                             "messageId": sent["messageId"], "content": "hello"})
    assert ack["ok"] and ack["message"]["edited_at"]
    [edited] = await watcher.wait_for("message-edited")
    assert edited["messageId"] == sent["messageId"] and edited["content"] == "hello"
    assert (await author.call("delete-message", {"messageId": sent["messageId"]}))["ok"]
    [deleted] = await watcher.wait_for("message-deleted")
    assert deleted["seq"] == sent["seq"]
    [stored] = (await house.owner.get(f"/api/agencies/{house.room_id}/messages")).json()
    assert stored["deleted"] is True and stored["content"] == ""


async def test_presence_members_and_thinking(shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    watcher = await house.owner.socket()
    joined = await watcher.join(house.room_id)
    assert [m["id"] for m in joined["members"]] == [house.owner.id]
    await house.member.post(f"/api/agencies/{house.room_id}/join")
    [update] = await watcher.wait_for("members-updated")
    assert {m["id"] for m in update["members"]} == {house.owner.id, house.member.id}
    member = await house.member.socket()
    await member.join(house.room_id)
    [online] = await watcher.wait_for("member-presence")
    assert online == {"agencyId": house.room_id, "userId": house.member.id,
                      "username": house.member.user["username"], "online": True}
    await member.call("agent-thinking", {"agencyId": house.room_id, "thinking": True,
                                         "status": "reading the logs"})
    [thinking] = await watcher.wait_for("agent-thinking")
    assert thinking["userId"] == house.member.id and thinking["status"] == "reading the logs"
    await member.close()
    presence = await watcher.wait_for("member-presence", 2)
    assert presence[-1]["online"] is False


async def test_direct_messages(shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    other = await house.admin.socket()
    r = await house.member.post(f"/api/dm/{house.admin.id}")
    assert r.status_code == 200 and r.json()["created"] is True
    dm = r.json()["agency"]
    assert dm["dm"] is True and dm["is_private"] is True
    [invited] = await other.wait_for("agency-invited")
    assert invited["agencyId"] == dm["id"]
    again = await house.admin.post(f"/api/dm/{house.member.id}")
    assert again.json()["agency"]["id"] == dm["id"] and again.json()["created"] is False
    listed = (await house.admin.get("/api/dm")).json()
    assert [(d["agency"]["id"], d["user"]["id"]) for d in listed] == [(dm["id"],
                                                                       house.member.id)]
    # Nobody else sees the DM.
    assert (await house.owner.get(f"/api/agencies/{dm['id']}")).status_code == 404


async def test_polling_transport_works_too(shoal_server: ShoalServer) -> None:
    person = await shoal_server.register()
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(shoal_server.url, auth={"token": person.token},
                         transports=["polling"], wait_timeout=10)
    ack = await client.call("join-agency", {"agencyId": shoal_server.lobby_id}, timeout=10)
    assert ack["ok"] is True
    await client.disconnect()


async def test_history_filters(shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    handles = {m["id"]: m["handle"] for m in
               (await house.owner.get(f"/api/houses/{house.id}/members")).json()}
    posted = []
    for text in ("one", f"two @{handles[house.admin.id]}", "three",
                 f"four @{handles[house.admin.id]}_x"):
        r = await house.owner.post(f"/api/agencies/{house.room_id}/messages", {"content": text})
        posted.append(r.json())
    url = f"/api/agencies/{house.room_id}/messages"
    newest = (await house.owner.get(url, params={"limit": 2})).json()
    assert [m["content"] for m in newest] == [posted[3]["content"], "three"]
    before = (await house.owner.get(url, params={"before": posted[2]["id"]})).json()
    assert [m["content"] for m in before] == [posted[1]["content"], "one"]
    mentioned = (await house.owner.get(url, params={
        "mentions": house.admin.user["username"]})).json()
    assert [m["id"] for m in mentioned] == [posted[1]["id"]]
    assert posted[1]["mentions"] == [house.admin.id] and posted[3]["mentions"] == []
    after = (await house.owner.get(url, params={"after_seq": posted[1]["seq"]})).json()
    assert [m["content"] for m in after] == ["three", posted[3]["content"]]
