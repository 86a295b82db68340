"""A house's own commands run by people: the contract's payload goes to the webhook, its answer
comes back posted, answered only, or shown to the invoker alone; refusals and failures reach
the invoker as errors."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from typing import Any

import pytest
from aiohttp import web

from shoal.commands.tables import CustomCommand
from tests.receiver import receiver
from tests.support import INTERNAL_URLS, House, ShoalServer, fake_dns, make_house

SECRET = "cmd-secret-0123456789"


@pytest.fixture
def loopback(shoal_server: ShoalServer, monkeypatch: pytest.MonkeyPatch) -> ShoalServer:
    """The server, allowed to call the receivers on 127.0.0.1 for one test."""
    monkeypatch.setattr(shoal_server.shoal.settings, "outbound_allow_private", True)
    return shoal_server


def answering(status: int, body: Any) -> Any:
    async def answer(request: web.Request) -> web.StreamResponse:
        return web.json_response(body, status=status)
    return answer


async def register(house: House, url: str, name: str = "standup", **fields: Any
                   ) -> dict[str, Any]:
    r = await house.owner.post(f"/api/custom-commands/{house.room_id}/commands",
                               {"name": name, "webhook_url": url, **fields})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def history(house: House) -> list[dict[str, Any]]:
    r = await house.owner.get(f"/api/agencies/{house.room_id}/messages")
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def run(house: House, person: str, text: str, silent: bool = False) -> dict[str, Any]:
    sock = await getattr(house, person).socket()
    ack = await sock.call("send-message", {"agencyId": house.room_id, "content": text,
                                           "silent": silent})
    await sock.close()
    return ack  # type: ignore[no-any-return]


async def test_a_person_runs_it_and_the_answer_is_posted_under_the_given_name(
        loopback: ShoalServer) -> None:
    house = await make_house(loopback)
    answer = {"content": "Standup: all green", "metadata": {"skill": "standup"},
              "sender_username": "standup-bot", "sender_display_name": "Standup Bot"}
    watcher = await house.owner.socket()
    await watcher.join(house.room_id)
    async with receiver(answering(200, answer)) as hook:
        await register(house, hook.url + "/cmd?team=core", description="Post the standup",
                       secret=SECRET)
        ack = await run(house, "member", '/standup today "big news" --team core --urgent')
        [call] = hook.requests
    assert ack["ok"] is True, ack
    assert (ack["command"], ack["content"], ack["type"]) == ("standup", "Standup: all green",
                                                             "tool_result")
    assert call.method == "POST" and call.path == "/cmd?team=core"
    member = house.member.user
    assert json.loads(call.body) == {
        "agencyId": house.room_id, "command": "standup",
        "rawArgs": 'today "big news" --team core --urgent',
        "positional": ["today", "big news"], "flags": {"team": "core", "urgent": True},
        "creator": house.owner.user["username"],
        "sender": {"userId": member["id"], "username": member["username"],
                   "displayName": member["display_name"], "type": "user"}}
    assert call.headers["X-Crustocean-Signature"] == hmac.new(
        SECRET.encode(), call.body, hashlib.sha256).hexdigest()
    stamp = call.headers["X-Shoal-Timestamp"]
    assert call.headers["X-Shoal-Signature"] == "sha256=" + hmac.new(
        SECRET.encode(), f"{stamp}.".encode() + call.body, hashlib.sha256).hexdigest()
    assert call.headers["X-Shoal-Event"] == "command"
    [message] = await watcher.wait_for("message")
    assert message["id"] == ack["messageId"]
    assert (message["type"], message["content"]) == ("tool_result", "Standup: all green")
    assert (message["sender_id"], message["sender_display_name"]) == ("system", "Standup Bot")
    assert message["metadata"]["skill"] == "standup"
    assert message["metadata"]["sender_username"] == "standup-bot"
    assert message["metadata"]["invoked_by"]["id"] == member["id"]
    await watcher.close()


async def test_without_a_secret_nothing_is_signed_and_rest_posts_the_answer(
        loopback: ShoalServer) -> None:
    house = await make_house(loopback)
    async with receiver(answering(200, {"content": "shipped", "type": "chat"})) as hook:
        await register(house, hook.url)
        r = await house.member.post(f"/api/agencies/{house.room_id}/messages",
                                    {"content": "/standup"})
        [call] = hook.requests
    assert "X-Crustocean-Signature" not in call.headers
    assert "X-Shoal-Signature" not in call.headers
    assert json.loads(call.body)["positional"] == [] and json.loads(call.body)["flags"] == {}
    assert r.status_code == 201, r.text
    assert r.json()["content"] == "shipped" and r.json()["type"] == "chat"
    [posted] = await history(house)
    assert (posted["id"], posted["content"], posted["sender_display_name"]) == (
        r.json()["messageId"], "shipped", "System")


async def test_a_silent_call_answers_only_the_invoker(loopback: ShoalServer) -> None:
    house = await make_house(loopback)
    async with receiver(answering(200, {"content": "quiet"})) as hook:
        await register(house, hook.url)
        ack = await run(house, "member", "/standup", silent=True)
    assert ack["ok"] and ack["content"] == "quiet" and "messageId" not in ack
    assert await history(house) == []


async def test_broadcast_false_is_answered_but_not_posted(loopback: ShoalServer) -> None:
    house = await make_house(loopback)
    async with receiver(answering(200, {"content": "just for you", "broadcast": False})) as hook:
        await register(house, hook.url)
        ack = await run(house, "member", "/standup")
        r = await house.member.post(f"/api/agencies/{house.room_id}/messages",
                                    {"content": "/standup"})
    assert ack["ok"] and ack["content"] == "just for you" and "messageId" not in ack
    assert r.status_code == 201 and "messageId" not in r.json()
    assert await history(house) == []


async def test_an_ephemeral_answer_reaches_only_the_sender(loopback: ShoalServer) -> None:
    house = await make_house(loopback)
    watcher, sender = await house.owner.socket(), await house.member.socket()
    await watcher.join(house.room_id)
    await sender.join(house.room_id)
    async with receiver(answering(200, {"content": "only you see this",
                                        "ephemeral": True})) as hook:
        await register(house, hook.url)
        ack = await sender.call("send-message", {"agencyId": house.room_id,
                                                 "content": "/standup", "silent": False})
    assert ack["ok"] and ack["ephemeral"] is True and "messageId" not in ack
    [shown] = await sender.wait_for("message")
    assert shown["ephemeral"] is True and shown["content"] == "only you see this"
    await asyncio.sleep(0.2)
    assert watcher.received("message") == []
    assert await history(house) == []
    await watcher.close()
    await sender.close()


async def test_open_closed_and_whitelist(loopback: ShoalServer) -> None:
    house = await make_house(loopback)
    async with receiver(answering(200, {"content": "ran"})) as hook:
        await register(house, hook.url, name="anyone")
        await register(house, hook.url, name="owners", invoke_permission="closed")
        await register(house, hook.url, name="listed", invoke_permission="whitelist",
                       invoke_whitelist=["@" + house.member.user["username"].upper()])
        # open: anyone who may post in the room; a guest may not post.
        assert (await run(house, "member", "/anyone"))["ok"] is True
        refused = await run(house, "guest", "/anyone")
        assert refused["ok"] is False and "may not post" in refused["error"]
        # closed: the house owner only.
        assert (await run(house, "owner", "/owners"))["ok"] is True
        for person in ("admin", "member"):
            refused = await run(house, person, "/owners")
            assert refused == {"ok": False, "command": "owners", "error":
                               "you may not run /owners: it is closed to all but the house "
                               "owner"}
        # whitelist: the listed usernames, and the owner.
        assert (await run(house, "member", "/listed"))["ok"] is True
        assert (await run(house, "owner", "/listed"))["ok"] is True
        refused = await run(house, "admin", "/listed")
        assert refused["ok"] is False
        assert refused["error"] == ("you may not run /listed: only its whitelist and the "
                                    "house owner may")
        r = await house.admin.post(f"/api/agencies/{house.room_id}/messages",
                                   {"content": "/listed"})
        assert r.status_code == 403 and r.json() == {"error": refused["error"]}
        r = await house.guest.post(f"/api/agencies/{house.room_id}/messages",
                                   {"content": "/anyone"})
        assert r.status_code == 403
    # Only the allowed calls reached the webhook.
    assert len(hook.requests) == 4


async def test_a_slow_webhook_times_out(loopback: ShoalServer,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loopback.shoal.settings, "custom_command_timeout_seconds", 0.3)
    house = await make_house(loopback)

    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(3)
        return web.json_response({"content": "too late"})

    async with receiver(slow) as hook:
        await register(house, hook.url)
        ack = await run(house, "member", "/standup")
        r = await house.member.post(f"/api/agencies/{house.room_id}/messages",
                                    {"content": "/standup"})
    assert ack["ok"] is False and ack["command"] == "standup"
    assert ack["error"].startswith("/standup failed: ")
    assert "did not answer within 0.3 s" in ack["error"]
    assert r.status_code == 502 and "did not answer within 0.3 s" in r.json()["error"]
    assert await history(house) == []


@pytest.mark.parametrize(("status", "body", "error"), [
    (409, {"error": "no standup on Sundays"}, "/standup failed: no standup on Sundays"),
    (500, "oops", "/standup failed: the webhook answered HTTP 500"),
    (200, "not json at all", "/standup: the webhook answered something that is not a JSON "
                             "object"),
    (200, ["a", "list"], "/standup: the webhook answered something that is not a JSON object"),
    (200, {"error": "disk full"}, "/standup failed: disk full"),
    (200, {"type": "chat"}, "/standup: the webhook answered an unusable content or metadata: "
                            "content must be a string"),
    (200, {"content": "ok", "metadata": [1]}, "/standup: the webhook answered an unusable "
                                              "content or metadata: metadata must be a JSON "
                                              "object"),
    (200, {"content": "ok", "type": "shout"}, "/standup: the webhook answered type 'shout'; "
                                              "the type is one of tool_result, system, chat"),
    # JSON may spell a lone surrogate; no store or reader can take it.
    (200, '{"content": "ok", "metadata": {"x": ["\\udfff"]}}',
     "/standup: the webhook's answer was refused: metadata.x[0] holds a lone UTF-16 "
     "surrogate (\\udfff), which is not Unicode text"),
])
async def test_failed_and_malformed_answers_are_errors_for_the_invoker(
        loopback: ShoalServer, status: int, body: Any, error: str) -> None:
    house = await make_house(loopback)

    async def answer(request: web.Request) -> web.StreamResponse:
        if isinstance(body, str):
            return web.Response(text=body, status=status)
        return web.json_response(body, status=status)

    async with receiver(answer) as hook:
        await register(house, hook.url)
        ack = await run(house, "member", "/standup")
        r = await house.member.post(f"/api/agencies/{house.room_id}/messages",
                                    {"content": "/standup"})
    assert ack == {"ok": False, "command": "standup", "error": error}
    assert r.status_code == 502 and r.json() == {"error": error}
    assert await history(house) == []


async def test_internal_addresses_are_refused_unless_allowed(
    shoal_server: ShoalServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    house = await make_house(shoal_server)
    base = f"/api/custom-commands/{house.room_id}/commands"
    changed = await register(house, "https://example.com/standup", name="changed")
    for url in INTERNAL_URLS:
        r = await house.owner.post(base, {"name": "standup", "webhook_url": url})
        assert r.status_code == 400, (url, r.text)
        assert "private, loopback or other internal address" in r.json()["error"]
        r = await house.owner.patch(f"{base}/{changed['id']}", {"webhook_url": url})
        assert r.status_code == 400 and "internal address" in r.json()["error"], (url, r.text)
    async with receiver(answering(200, {"content": "should not be reached"})) as hook:
        # Any other host name is resolved when the command runs, and refused then.
        fake_dns(monkeypatch, {"rebound.example": ["127.0.0.1"]})
        await register(house, f"http://rebound.example:{hook.url.rsplit(':', 1)[1]}/cmd")
        ack = await run(house, "member", "/standup")
        r = await house.member.post(f"/api/agencies/{house.room_id}/messages",
                                    {"content": "/standup"})
    assert ack["ok"] is False
    assert ack["error"].startswith("/standup failed: rebound.example resolves to a private")
    assert r.status_code == 502 and r.json()["error"] == ack["error"]
    assert hook.requests == []


async def test_changes_take_effect_at_once(loopback: ShoalServer) -> None:
    house = await make_house(loopback)
    base = f"/api/custom-commands/{house.room_id}/commands"
    async with receiver(answering(200, {"content": "first"})) as first, \
            receiver(answering(200, {"content": "second"})) as second:
        command = await register(house, first.url)
        assert (await run(house, "member", "/standup"))["content"] == "first"
        r = await house.owner.patch(f"{base}/{command['id']}", {"webhook_url": second.url})
        assert r.status_code == 200, r.text
        assert (await run(house, "member", "/standup"))["content"] == "second"
        r = await house.owner.patch(f"{base}/{command['id']}", {"name": "daily"})
        assert r.status_code == 200, r.text
        assert "unknown command /standup" in (await run(house, "member", "/standup"))["error"]
        assert (await run(house, "member", "/daily"))["content"] == "second"
        assert (await house.owner.delete(f"{base}/{command['id']}")).status_code == 200
        assert "unknown command /daily" in (await run(house, "member", "/daily"))["error"]
    assert (len(first.requests), len(second.requests)) == (1, 2)


async def test_help_lists_the_house_commands_in_that_house_only(
        shoal_server: ShoalServer) -> None:
    house, other = await make_house(shoal_server), await make_house(shoal_server)
    await register(house, "https://example.com/standup", description="Post the standup")
    listing = (await run(house, "member", "/help"))["content"]
    builtins, _, own = listing.partition("This house's own commands:")
    assert "/roll <dice>" in builtins and "/standup" not in builtins
    assert own.strip() == "/standup [args...] - Post the standup"
    one = (await run(house, "member", "/help standup"))["content"]
    assert one.startswith("/standup [args...]\nPost the standup\nThis house's own command")
    assert "standup" not in (await run(other, "member", "/help"))["content"]
    unknown = await run(other, "member", "/standup")
    assert unknown["ok"] is False and "unknown command /standup" in unknown["error"]
    assert "This house's own commands" not in unknown["error"]


async def test_changed_by_another_process_is_seen_and_a_removed_one_is_not_run(
        loopback: ShoalServer) -> None:
    house = await make_house(loopback)
    async with receiver(answering(200, {"content": "ran"})) as hook:
        command = await register(house, hook.url)
        assert (await run(house, "member", "/standup"))["ok"] is True
        await _delete_behind_the_servers_back(loopback, command["id"])
        # This process still lists it for a moment, but never calls a command that is gone.
        ack = await run(house, "member", "/standup")
    assert ack == {"ok": False, "command": "standup",
                   "error": "/standup was removed from this house"}
    assert len(hook.requests) == 1
    assert "unknown command" in (await run(house, "member", "/standup"))["error"]


async def _delete_behind_the_servers_back(server: ShoalServer, command_id: str) -> None:
    """Remove the row as another process (or the CLI) would: this process is not told."""
    async with server.shoal.db.write() as session:
        row = await session.get(CustomCommand, command_id)
        assert row is not None
        await session.delete(row)
