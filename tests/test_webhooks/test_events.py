"""Which changes send which events, and to which subscriptions: a room's, or the house's."""

from __future__ import annotations

from typing import Any

from tests.receiver import Receiver, receiver
from tests.support import make_house, unique
from tests.test_webhooks.conftest import Hooked, house_path, room_path, subscribe, verified

SECRET = "another-secret-16-chars-or-more"
ALL_EVENTS = ["message.created", "message.updated", "message.deleted", "member.joined",
              "member.left", "member.kicked", "member.promoted", "member.demoted",
              "agency.created", "agency.updated", "invite.created", "invite.redeemed"]


def received(hook: Receiver) -> list[dict[str, Any]]:
    return [verified(request, SECRET) for request in hook.requests]


async def test_room_and_house_wide_subscriptions_hear_their_own_scope(hooked: Hooked) -> None:
    house = await make_house(hooked.server)
    r = await house.owner.post("/api/agencies", {"name": unique("other"), "houseId": house.id})
    other_room = r.json()["id"]
    r = await house.member.post("/api/agencies", {"name": unique("secret"),
                                                  "houseId": house.id, "isPrivate": True})
    private_room = r.json()["id"]
    async with receiver() as room_hook, receiver() as house_hook, receiver() as private_hook:
        await subscribe(house.owner, room_path(house.room_id), room_hook.url,
                        ["message.created", "invite.created"], secret=SECRET)
        await subscribe(house.owner, house_path(house), house_hook.url,
                        ["message.created", "invite.created"], secret=SECRET)
        # The owner cannot see the private room; its member may not manage subscriptions.
        for person, status in ((house.owner, 404), (house.member, 403)):
            r = await person.post(f"/api/webhook-subscriptions/{private_room}",
                                  {"url": private_hook.url, "events": ["message.created"]})
            assert r.status_code == status, r.text
        for room, text in ((house.room_id, "in the room"), (other_room, "next door"),
                           (private_room, "behind closed doors")):
            r = await house.member.post(f"/api/agencies/{room}/messages", {"content": text})
            assert r.status_code == 201, r.text
        r = await house.owner.post(f"/api/houses/{house.id}/invites", {"role": "guest"})
        await hooked.run_due()
        room_events = [(e["event"], e.get("message", {}).get("content"))
                       for e in received(room_hook)]
        house_events = [(e["event"], e.get("message", {}).get("content"), e["agencyId"])
                        for e in received(house_hook)]
    assert room_events == [("message.created", "in the room")]
    assert sorted(house_events, key=str) == sorted([
        ("message.created", "in the room", house.room_id),
        ("message.created", "next door", other_room),
        ("invite.created", None, None),
    ], key=str)
    assert private_hook.requests == []


async def test_every_change_shoal_can_make_sends_its_event(hooked: Hooked) -> None:
    server = hooked.server
    house = await make_house(server)
    async with receiver() as hook:
        await subscribe(house.owner, house_path(house), hook.url, ALL_EVENTS, secret=SECRET)
        room = house.room_id
        r = await house.member.post(f"/api/agencies/{room}/messages", {"content": "first"})
        message_id = r.json()["id"]
        await house.member.patch(f"/api/messages/{message_id}", {"content": "first, edited"})
        await house.member.delete(f"/api/messages/{message_id}")
        await house.guest.post(f"/api/agencies/{room}/join")
        await house.guest.post(f"/api/agencies/{room}/leave")
        r = await house.owner.post("/api/agencies", {"name": unique("new"), "houseId": house.id})
        new_room = r.json()["id"]
        await house.owner.patch(f"/api/agencies/{new_room}", {"charter": "talk here"})
        r = await house.owner.post(f"/api/houses/{house.id}/invites", {"role": "member"})
        newcomer = await server.register()
        await newcomer.post("/api/houses/join", {"code": r.json()["code"]})
        await house.owner.patch(f"/api/houses/{house.id}/members/{newcomer.id}",
                                {"role": "admin"})
        await house.owner.patch(f"/api/houses/{house.id}/members/{newcomer.id}",
                                {"role": "guest"})
        await house.owner.delete(f"/api/houses/{house.id}/members/{newcomer.id}")
        await house.guest.delete(f"/api/houses/{house.id}/members/{house.guest.id}")
        await hooked.run_due()
        events = received(hook)

    def find(name: str) -> list[dict[str, Any]]:
        return [e for e in events if e["event"] == name]

    assert {e["event"] for e in events} == set(ALL_EVENTS)
    assert all(list(e)[:4] == ["event", "timestamp", "agencyId", "houseId"] for e in events)
    assert all(e["houseId"] == house.id for e in events)
    created = next(e for e in find("message.created") if e["message"]["id"] == message_id)
    assert created["message"]["content"] == "first"
    assert find("message.updated")[0]["message"]["content"] == "first, edited"
    deleted = find("message.deleted")[0]["message"]
    assert deleted["id"] == message_id and deleted["deleted"] is True
    room_joins = [e for e in find("member.joined") if e["agencyId"] == room]
    # Posting in a public room made the member one of its members. Deliveries due together go
    # out at once, so they may arrive in any order.
    assert sorted(e["member"]["id"] for e in room_joins) == sorted([house.member.id,
                                                                    house.guest.id])
    assert [e["member"]["id"] for e in find("member.left") if e["agencyId"] == room] == [
        house.guest.id]
    house_joins = [e for e in find("member.joined") if e["agencyId"] is None]
    assert [e["member"]["id"] for e in house_joins] == [newcomer.id]
    assert find("agency.created")[0]["agency"]["id"] == new_room
    assert find("agency.updated")[0]["agency"]["charter"] == "talk here"
    assert find("invite.created")[0]["invite"]["role"] == "member"
    redeemed = find("invite.redeemed")[0]
    assert redeemed["member"]["id"] == newcomer.id and redeemed["agencyId"] is None
    promoted, demoted = find("member.promoted")[0], find("member.demoted")[0]
    assert (promoted["member"]["role"], promoted["previous_role"]) == ("admin", "member")
    assert (demoted["member"]["role"], demoted["previous_role"]) == ("guest", "admin")
    assert promoted["by"] == house.owner.id
    kicked = find("member.kicked")[0]
    assert kicked["member"]["id"] == newcomer.id and kicked["by"] == house.owner.id
    left_house = [e for e in find("member.left") if e["agencyId"] is None]
    assert [e["member"]["id"] for e in left_house] == [house.guest.id]


async def test_direct_messages_send_nothing(hooked: Hooked) -> None:
    house = await make_house(hooked.server)
    async with receiver() as hook:
        await subscribe(house.owner, house_path(house), hook.url, ["message.created",
                                                                   "agency.created"])
        r = await house.member.post(f"/api/dm/{house.admin.id}")
        dm_id = r.json()["agency"]["id"]
        r = await house.member.post(f"/api/agencies/{dm_id}/messages", {"content": "psst"})
        assert r.status_code == 201, r.text
        await hooked.run_due()
        assert hook.requests == []


async def test_messages_a_hook_posts_and_edits_send_events(hooked: Hooked) -> None:
    house = await make_house(hooked.server)
    r = await house.owner.post(f"/api/houses/{house.id}/hooks",
                               {"name": unique("CI "), "rooms": [house.room_id]})
    assert r.status_code == 201, r.text
    keyed = hooked.server.http()
    keyed.headers["X-Crustocean-Hook-Key"] = r.json()["key"]
    async with receiver() as hook:
        await subscribe(house.owner, room_path(house.room_id), hook.url,
                        ["message.created", "message.updated"], secret=SECRET)
        r = await keyed.post("/api/hooks/messages", json={"agencyId": house.room_id,
                                                          "content": "build started"})
        assert r.status_code in (200, 201), r.text
        r = await keyed.patch(f"/api/hooks/messages/{r.json()['id']}",
                              json={"content": "build passed"})
        assert r.status_code == 200, r.text
        await hooked.run_due()
        events = sorted((e["event"], e["message"]["content"]) for e in received(hook))
    assert events == [("message.created", "build started"), ("message.updated", "build passed")]


async def test_binding_a_room_sends_agency_updated(hooked: Hooked) -> None:
    house = await make_house(hooked.server)
    r = await house.owner.post("/api/agents", {"name": unique("Desk "), "houseId": house.id})
    agent = r.json()["agent"]
    # A room of its own: a new agent is already in the house's default room.
    room = (await house.owner.post("/api/agencies", {"name": unique("desk"),
                                                     "houseId": house.id})).json()["id"]
    binding = f"/api/agencies/{room}/binding"
    async with receiver() as hook:
        await subscribe(house.owner, room_path(room), hook.url,
                        ["agency.updated", "member.joined"], secret=SECRET)
        await house.admin.http.put(binding, json={"agent": agent["username"]})
        await house.admin.http.put(binding, json={"agent": agent["username"]})  # no change
        await house.admin.http.put(binding, json={"agent": None})
        await hooked.run_due()
        events = received(hook)
    # Deliveries go out concurrently: their order of arrival is not theirs to keep.
    shown = {"id": agent["id"], "username": agent["username"],
             "handle": agent["username"].lower()}
    updates = [e for e in events if e["event"] == "agency.updated"]
    bindings = [e["agency"]["binding"] for e in updates]
    assert len(bindings) == 2 and shown in bindings and None in bindings
    assert all(e["by"] == house.admin.id for e in updates)
    [joined] = [e for e in events if e["event"] == "member.joined"]
    assert joined["member"]["id"] == agent["id"] and joined["agencyId"] == room
