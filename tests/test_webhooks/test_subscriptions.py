"""Managing subscriptions through the API: what is shown, what is refused, and the secret."""

from __future__ import annotations

import json

import pytest

from shoal.webhooks.tables import Subscription
from tests.receiver import receiver
from tests.support import INTERNAL_URLS, ShoalServer, make_house
from tests.test_webhooks.conftest import (
    Hooked,
    deliveries,
    house_path,
    room_path,
    subscribe,
    verified,
)

CONTRACT_EVENTS = ["message.created", "message.updated", "message.deleted", "member.joined",
                   "member.left", "member.kicked", "member.banned", "member.unbanned",
                   "member.promoted", "member.demoted", "agency.created", "agency.updated",
                   "invite.created", "invite.redeemed"]


async def test_the_event_list_needs_no_token(shoal_server: ShoalServer) -> None:
    r = await shoal_server.http().get("/api/webhook-subscriptions/meta/events")
    assert r.status_code == 200
    assert r.json()["events"] == CONTRACT_EVENTS
    never = {d["event"] for d in r.json()["details"] if not d["sent"]}
    assert never == {"member.banned", "member.unbanned"}


async def test_a_generated_secret_is_shown_once_and_signs_deliveries(hooked: Hooked) -> None:
    house = await make_house(hooked.server)
    path = room_path(house.room_id)
    async with receiver() as hook:
        created = await subscribe(house.owner, path, hook.url, ["message.created"],
                                  description="CI notifier")
        secret = created["secret"]
        assert secret.startswith("whsec_") and len(secret) > 40
        assert {k: created[k] for k in ("url", "events", "description", "enabled")} == {
            "url": hook.url, "events": ["message.created"], "description": "CI notifier",
            "enabled": True}
        assert created["agency_id"] == house.room_id and created["house_id"] == house.id
        await house.member.post(f"/api/agencies/{house.room_id}/messages", {"content": "x"})
        await hooked.run_due()
        assert verified(hook.requests[0], secret)["event"] == "message.created"

    later = [
        await house.owner.get(path),
        await house.owner.patch(f"{path}/{created['id']}", {"description": "renamed"}),
        await house.owner.get(f"{path}/{created['id']}/deliveries"),
    ]
    for r in later:
        assert r.status_code == 200, r.text
        assert secret not in r.text and '"secret"' not in r.text
    async with hooked.server.shoal.db.read() as session:
        stored = await session.get(Subscription, created["id"])
    assert stored is not None and secret not in stored.secret  # encrypted at rest
    assert hooked.server.shoal.secrets.decrypt(stored.secret) == secret
    assert (await house.owner.delete(f"{path}/{created['id']}")).json() == {
        "ok": True, "id": created["id"]}
    assert (await house.owner.get(path)).json() == []


async def test_a_chosen_secret_is_never_shown_and_can_be_replaced(hooked: Hooked) -> None:
    house = await make_house(hooked.server)
    path = house_path(house)
    chosen, replaced = "chosen-secret-0123456789", "replaced-secret-0123456789"
    async with receiver() as hook:
        r = await house.admin.post(path, {"url": hook.url, "events": ["message.created"],
                                          "secret": chosen})
        assert r.status_code == 201 and chosen not in r.text and "secret" not in r.json()
        sub = r.json()
        r = await house.admin.patch(f"{path}/{sub['id']}", {"secret": replaced})
        assert r.status_code == 200 and replaced not in r.text
        await house.member.post(f"/api/agencies/{house.room_id}/messages", {"content": "hi"})
        await hooked.run_due()
        assert verified(hook.requests[0], replaced)["message"]["content"] == "hi"
    log = await deliveries(house.admin, path, sub["id"])
    assert [(d["event"], d["status"]) for d in log] == [("message.created", "delivered")]
    await house.admin.delete(f"{path}/{sub['id']}")


async def test_changes_apply_to_the_next_event(hooked: Hooked) -> None:
    house = await make_house(hooked.server)
    path = room_path(house.room_id)
    async with receiver() as first, receiver() as second:
        sub = await subscribe(house.owner, path, first.url, ["message.updated"])
        r = await house.member.post(f"/api/agencies/{house.room_id}/messages", {"content": "1"})
        await hooked.run_due()
        assert first.requests == []  # not subscribed to message.created
        r = await house.owner.patch(f"{path}/{sub['id']}", {
            "url": second.url, "events": ["message.created", "message.deleted"]})
        assert r.json()["events"] == ["message.created", "message.deleted"]
        await house.member.post(f"/api/agencies/{house.room_id}/messages", {"content": "2"})
        await hooked.run_due()
        # Turned off: what is still pending is not sent, and nothing new is queued.
        await house.member.post(f"/api/agencies/{house.room_id}/messages", {"content": "3"})
        await house.owner.patch(f"{path}/{sub['id']}", {"enabled": False})
        await house.member.post(f"/api/agencies/{house.room_id}/messages", {"content": "4"})
        await hooked.run_due()
        assert [json.loads(q.body)["message"]["content"] for q in second.requests] == ["2"]
        assert first.requests == []
    log = await deliveries(house.owner, path, sub["id"])
    assert [(d["payload"]["message"]["content"], d["status"], d["last_error"]) for d in log] == [
        ("3", "failed", "the subscription is disabled"), ("2", "delivered", None)]
    await house.owner.delete(f"{path}/{sub['id']}")


@pytest.mark.parametrize(("body", "error"), [
    ({"url": "ftp://example.com/x", "events": ["message.created"]}, "http:// or https://"),
    ({"url": "https://", "events": ["message.created"]}, "http:// or https://"),
    ({"url": "not a url", "events": ["message.created"]}, "http:// or https://"),
    ({"url": "https://example.com/" + "x" * 2100, "events": ["message.created"]}, "2048"),
    ({"url": "https://example.com", "events": []}, "non-empty"),
    ({"url": "https://example.com", "events": ["message.sent"]}, "unknown event type"),
    ({"url": "https://example.com", "events": ["message.created"], "secret": "short"},
     "16 to 256"),
    ({"url": "https://example.com", "events": ["message.created"], "description": "x" * 501},
     "500"),
    ({"events": ["message.created"]}, "url is required"),
])
async def test_bad_subscriptions_are_refused_with_the_reason(
    shoal_server: ShoalServer, body: dict[str, object], error: str
) -> None:
    house = await make_house(shoal_server)
    for path in (room_path(house.room_id), house_path(house)):
        r = await house.owner.post(path, body)
        assert r.status_code == 400, r.text
        assert error in r.json()["error"]
    if "url" not in body:
        return  # a change may leave the url as it is
    r = await house.owner.post(room_path(house.room_id),
                               {"url": "https://example.com", "events": ["message.created"],
                                "enabled": False})
    r = await house.owner.patch(f"{room_path(house.room_id)}/{r.json()['id']}", body)
    assert r.status_code == 400 and error in r.json()["error"], r.text


async def test_internal_addresses_are_refused_when_subscribed_or_changed(
    shoal_server: ShoalServer,
) -> None:
    house = await make_house(shoal_server)
    sub = (await house.owner.post(room_path(house.room_id), {
        "url": "https://example.com/hook", "events": ["message.created"], "enabled": False,
    })).json()
    for url in INTERNAL_URLS:
        for path in (room_path(house.room_id), house_path(house)):
            r = await house.owner.post(path, {"url": url, "events": ["message.created"]})
            assert r.status_code == 400, (url, r.text)
            assert "internal address" in r.json()["error"], url
            assert "outbound_allow_private" in r.json()["error"], url
        r = await house.owner.patch(f"{room_path(house.room_id)}/{sub['id']}", {"url": url})
        assert r.status_code == 400 and "internal address" in r.json()["error"], (url, r.text)
    listed = (await house.owner.get(room_path(house.room_id))).json()
    assert [s["url"] for s in listed] == ["https://example.com/hook"]


async def test_internal_addresses_are_accepted_when_the_operator_allows_them(
    hooked: Hooked,
) -> None:
    house = await make_house(hooked.server)
    for url in INTERNAL_URLS:
        await subscribe(house.owner, room_path(house.room_id), url, ["message.created"],
                        enabled=False)


async def test_a_room_holds_a_bounded_number_of_subscriptions(shoal_server: ShoalServer
                                                              ) -> None:
    house = await make_house(shoal_server)
    body = {"url": "https://example.com/hook", "events": ["agency.updated"], "enabled": False}
    for _ in range(25):
        assert (await house.owner.post(room_path(house.room_id), body)).status_code == 201
    r = await house.owner.post(room_path(house.room_id), body)
    assert r.status_code == 409 and "25" in r.json()["error"]


async def test_a_subscription_belongs_to_its_room_or_house(shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    body = {"url": "https://example.com/hook", "events": ["agency.updated"], "enabled": False}
    room_sub = (await house.owner.post(room_path(house.room_id), body)).json()
    house_sub = (await house.owner.post(house_path(house), body)).json()
    assert house_sub["agency_id"] is None
    other = await make_house(shoal_server)
    for path, sub in ((house_path(house), room_sub),
                      (room_path(house.room_id), house_sub),
                      (room_path(other.room_id), room_sub)):
        caller = house.owner if path != room_path(other.room_id) else other.owner
        r = await caller.patch(f"{path}/{sub['id']}", {"description": "x"})
        assert r.status_code == 404 and r.json() == {"error": "subscription not found"}
    assert [s["id"] for s in (await house.owner.get(house_path(house))).json()] == [
        house_sub["id"]]
    r = await house.owner.get(f"{house_path(house)}/{house_sub['id']}/deliveries",
                              params={"before": room_sub["id"]})
    assert r.status_code == 400
