"""Deliveries: signed POSTs, retried with backoff, logged, refused when private, and a
subscription that fails for a day disabled with its creator told."""

from __future__ import annotations

from datetime import timedelta

import pytest
from aiohttp import web
from sqlalchemy import select

from shoal.scheduler.service import Fired, set_due
from shoal.scheduler.tables import Schedule
from tests.receiver import Answer, receiver
from tests.support import ShoalServer, fake_dns, make_house, unique
from tests.test_webhooks.conftest import (
    Hooked,
    deliveries,
    eventually,
    room_path,
    subscribe,
    subscription,
    verified,
)

SECRET = "a-secret-of-at-least-16-characters"


def failing_then_ok(failures: int) -> Answer:
    """A receiver handler that answers 500 `failures` times, then 200."""
    seen = 0

    async def answer(request: web.Request) -> web.StreamResponse:
        nonlocal seen
        seen += 1
        if seen <= failures:
            return web.json_response({"error": "not now"}, status=500)
        return web.json_response({"ok": True})

    return answer


async def always_failing(request: web.Request) -> web.StreamResponse:
    return web.json_response({"error": "down"}, status=503)


async def test_a_failing_receiver_gets_the_event_on_the_third_attempt(hooked: Hooked) -> None:
    house = await make_house(hooked.server)
    path = room_path(house.room_id)
    async with receiver(failing_then_ok(2)) as hook:
        sub = await subscribe(house.admin, path, hook.url + "/in", ["message.created"],
                              secret=SECRET)
        r = await house.member.post(f"/api/agencies/{house.room_id}/messages",
                                    {"content": "ship it"})
        posted = r.json()

        assert await hooked.run_due() == 1
        log = await deliveries(house.admin, path, sub["id"])
        assert [(d["status"], [a["status_code"] for a in d["attempts"]]) for d in log] == [
            ("pending", [500])]
        assert log[0]["next_attempt_at"] is not None
        assert (await subscription(house.admin, path, sub["id"]))["failing_since"] is not None

        hooked.clock.advance(seconds=5)  # before the first backoff is over: nothing is sent
        assert await hooked.run_due() == 0
        assert len(hook.requests) == 1
        hooked.clock.advance(seconds=5)
        assert await hooked.run_due() == 1
        hooked.clock.advance(seconds=30)
        assert await hooked.run_due() == 0  # the second backoff is longer
        hooked.clock.advance(seconds=30)
        assert await hooked.run_due() == 1

        assert len(hook.requests) == 3
        bodies = [verified(request, SECRET) for request in hook.requests]
        assert hook.requests[0].body == hook.requests[2].body  # the same event each time
        body = bodies[-1]
        assert list(body)[:3] == ["event", "timestamp", "agencyId"]
        assert body["event"] == "message.created" and body["agencyId"] == house.room_id
        assert body["message"] == posted
        assert hook.requests[-1].path == "/in"
        assert hook.requests[-1].headers["X-Shoal-Event"] == "message.created"

    log = await deliveries(house.admin, path, sub["id"])
    assert log[0]["status"] == "delivered"
    assert [a["status_code"] for a in log[0]["attempts"]] == [500, 500, 200]
    assert [a["attempt"] for a in log[0]["attempts"]] == [1, 2, 3]
    assert all(isinstance(a["duration_ms"], int) and a["at"] for a in log[0]["attempts"])
    assert log[0]["attempts"][0]["error"] == "HTTP 500"
    assert log[0]["next_attempt_at"] is None
    # A success ends the failure streak.
    assert (await subscription(house.admin, path, sub["id"]))["failing_since"] is None
    assert await hooked.run_due() == 0


async def test_four_attempts_in_all_then_the_delivery_fails(hooked: Hooked) -> None:
    house = await make_house(hooked.server)
    path = room_path(house.room_id)
    async with receiver(always_failing) as hook:
        sub = await subscribe(house.owner, path, hook.url, ["message.created"])
        await house.member.post(f"/api/agencies/{house.room_id}/messages", {"content": "hi"})
        for _ in range(6):
            await hooked.run_due()
            hooked.clock.advance(seconds=301)
        assert len(hook.requests) == 4
    log = await deliveries(house.owner, path, sub["id"])
    assert log[0]["status"] == "failed"
    assert [a["status_code"] for a in log[0]["attempts"]] == [503] * 4
    assert log[0]["last_error"] == "HTTP 503"


async def test_a_name_that_resolves_to_a_private_address_is_refused_when_sent(
    shoal_server: ShoalServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The shared server keeps the default policy, and its own scheduler sends. A host name is
    not resolved when subscribed (literal internal addresses are refused then), so the check
    that counts is the one made when the name is resolved to send."""
    house = await make_house(shoal_server)
    path = room_path(house.room_id)
    async with receiver() as hook:
        fake_dns(monkeypatch, {"rebound.example": ["127.0.0.1"]})
        url = f"http://rebound.example:{hook.url.rsplit(':', 1)[1]}/"
        sub = await subscribe(house.owner, path, url, ["message.created"])
        await house.member.post(f"/api/agencies/{house.room_id}/messages", {"content": "hi"})

        async def attempted() -> bool:
            log = await deliveries(house.owner, path, sub["id"])
            return bool(log and log[0]["attempts"])

        await eventually(attempted)
        assert hook.requests == []
    attempt = (await deliveries(house.owner, path, sub["id"]))[0]["attempts"][0]
    assert attempt["status_code"] is None
    assert attempt["error"].startswith("refused: rebound.example resolves to a private")
    assert (await house.owner.delete(f"{path}/{sub['id']}")).status_code == 200


async def test_failing_for_a_day_disables_the_subscription_and_tells_its_creator(
    hooked: Hooked,
) -> None:
    house = await make_house(hooked.server)
    path = room_path(house.room_id)
    async with receiver(always_failing) as hook:
        sub = await subscribe(house.admin, path, hook.url + "/?token=do-not-show",
                              ["message.created"])
        await house.member.post(f"/api/agencies/{house.room_id}/messages", {"content": "one"})
        await hooked.run_due()
        assert (await subscription(house.admin, path, sub["id"]))["enabled"] is True
        hooked.clock.advance(hours=23)
        await house.member.post(f"/api/agencies/{house.room_id}/messages", {"content": "two"})
        await hooked.run_due()
        assert (await subscription(house.admin, path, sub["id"]))["enabled"] is True
        hooked.clock.advance(hours=2)
        await house.member.post(f"/api/agencies/{house.room_id}/messages", {"content": "three"})
        await hooked.run_due()
        sent = len(hook.requests)

        now = await subscription(house.admin, path, sub["id"])
        assert now["enabled"] is False
        assert "failing for more than 24 hours" in now["disabled_reason"]
        r = await house.member.get(f"/api/agencies/{house.room_id}/messages")
        notice = r.json()[0]
        assert notice["sender_type"] == "system" and notice["type"] == "system"
        members = (await house.owner.get(f"/api/houses/{house.id}/members")).json()
        admin_handle = next(m["handle"] for m in members if m["id"] == house.admin.id)
        assert f"@{admin_handle}" in notice["content"] and house.admin.id in notice["mentions"]
        assert "disabled" in notice["content"] and "do-not-show" not in notice["content"]

        # Disabled: new events are not queued for it, and what was pending is not sent.
        await house.member.post(f"/api/agencies/{house.room_id}/messages", {"content": "four"})
        for _ in range(3):
            hooked.clock.advance(seconds=301)
            await hooked.run_due()
        assert len(hook.requests) == sent
        contents = [d["payload"]["message"]["content"]
                    for d in await deliveries(house.admin, path, sub["id"])]
        assert "four" not in contents

        r = await house.admin.patch(f"{path}/{sub['id']}", {"enabled": True})
        assert r.json()["enabled"] is True and r.json()["disabled_reason"] is None
        assert r.json()["failing_since"] is None
    assert (await house.admin.delete(f"{path}/{sub['id']}")).status_code == 200


async def test_deleting_a_subscription_drops_its_pending_deliveries(hooked: Hooked) -> None:
    house = await make_house(hooked.server)
    path = room_path(house.room_id)
    async with receiver(always_failing) as hook:
        sub = await subscribe(house.owner, path, hook.url, ["message.created"])
        await house.member.post(f"/api/agencies/{house.room_id}/messages", {"content": "a"})
        assert await hooked.run_due() == 1
        assert (await house.owner.delete(f"{path}/{sub['id']}")).status_code == 200
        hooked.clock.advance(seconds=400)
        assert await hooked.run_due() == 0
        assert len(hook.requests) == 1
    r = await house.owner.get(f"{path}/{sub['id']}/deliveries")
    assert r.status_code == 404


async def test_an_unreachable_receiver_is_logged_as_such(hooked: Hooked) -> None:
    house = await make_house(hooked.server)
    path = room_path(house.room_id)
    async with receiver() as hook:
        url = hook.url
    sub = await subscribe(house.owner, path, url, ["message.created"])  # nothing listens now
    await house.member.post(f"/api/agencies/{house.room_id}/messages",
                            {"content": unique("lost ")})
    assert await hooked.run_due() == 1
    attempt = (await deliveries(house.owner, path, sub["id"]))[0]["attempts"][0]
    assert attempt["status_code"] is None and "could not be reached" in attempt["error"]
    assert (await house.owner.delete(f"{path}/{sub['id']}")).status_code == 200


async def test_a_lease_taken_over_by_another_scheduler_is_not_sent_again(hooked: Hooked) -> None:
    """A process that claimed a delivery but got to it only after its lease ran out (and
    another process claimed it) leaves it to that process."""
    shoal = hooked.server.shoal
    house = await make_house(hooked.server)
    path = room_path(house.room_id)
    async with receiver() as hook:
        sub = await subscribe(house.owner, path, hook.url, ["message.created"])
        await house.member.post(f"/api/agencies/{house.room_id}/messages", {"content": "once"})
        delivery_id = (await deliveries(house.owner, path, sub["id"]))[0]["id"]
        claimed_at = hooked.clock.now
        async with shoal.db.write() as session:
            row = await session.scalar(select(Schedule).where(
                Schedule.kind == "delivery", Schedule.target_id == delivery_id))
            assert row is not None and row.due_at == claimed_at
            await shoal.webhooks.advance(session, [row], claimed_at)  # this process claims
        async with shoal.db.write() as session:  # its lease ran out; another process claimed
            await set_due(session, "delivery", delivery_id,
                          hooked.clock.advance(seconds=61) + timedelta(seconds=60))
        await shoal.webhooks.fire([Fired("delivery", delivery_id, claimed_at, row.id)])
        assert hook.requests == []
        assert (await deliveries(house.owner, path, sub["id"]))[0]["attempts"] == []
        hooked.clock.advance(seconds=60)
        assert await hooked.run_due() == 1  # the other process's claim, as it were
        assert len(hook.requests) == 1
    assert (await house.owner.delete(f"{path}/{sub['id']}")).status_code == 200


async def test_finished_deliveries_leave_the_log_after_the_retention_period(hooked: Hooked
                                                                            ) -> None:
    house = await make_house(hooked.server)
    path = room_path(house.room_id)
    days = hooked.server.shoal.settings.webhook_retention_days
    async with receiver() as hook:
        sub = await subscribe(house.owner, path, hook.url, ["message.created"])
        for text, then in (("old", days - 1), ("recent", 2), ("new", 0)):
            await house.member.post(f"/api/agencies/{house.room_id}/messages", {"content": text})
            await hooked.run_due()
            hooked.clock.advance(days=then)
        assert len(hook.requests) == 3
    log = await deliveries(house.owner, path, sub["id"])
    assert [d["payload"]["message"]["content"] for d in log] == ["new", "recent"]
    assert (await house.owner.delete(f"{path}/{sub['id']}")).status_code == 200
