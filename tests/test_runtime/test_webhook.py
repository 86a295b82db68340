"""Webhook and SDK bots: a signed POST per activation, the answer posted as the bot's reply,
and every failure explained in the room."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from shoal.net import Outbound, OutboundPolicy
from shoal.runtime.base import Outcome
from shoal.runtime.sdk import SdkRuntime
from shoal.runtime.webhook import WebhookRuntime
from shoal.store.tables import Activation, User
from tests.receiver import receiver
from tests.support import fake_dns
from tests.test_runtime.conftest import Bench

SECRET = "whsec-test-0123456789"


def answering(status: int, body: Any) -> Any:
    async def answer(request: web.Request) -> web.StreamResponse:
        return web.json_response(body, status=status)
    return answer


# The receiver lives on 127.0.0.1, which a bot's URL may not name; the bot is given a host name
# that resolves there while the runtime runs (as a DNS name could).
AGENT_HOST = "scout.example"


async def webhook_bot(bench: Bench, url: str, secret: str | None = SECRET) -> None:
    url = url.replace("127.0.0.1", AGENT_HOST)
    patch: dict[str, Any] = {"runtime": "webhook", "response_webhook_url": url + "/agent",
                             "system_prompt": "You are Scout, terse.",
                             "description": "finds things"}
    if secret:
        patch["response_webhook_secret"] = secret
    r = await bench.house.owner.patch(f"/api/agents/{bench.bot_id}/config", patch)
    assert r.status_code == 200, r.text


async def run(bench: Bench, trigger: dict[str, Any], *, loopback: bool = True,
              timeout: float = 15) -> Outcome:
    shoal = bench.server.shoal
    runtime = WebhookRuntime(shoal.db, shoal.chat, shoal.secrets, shoal.settings)
    if loopback:  # the receiver lives on 127.0.0.1, which the operator allows here
        runtime.outbound = Outbound(OutboundPolicy(allow_private=True))
    runtime.timeout = timeout
    ctx = await bench.context(trigger)
    with pytest.MonkeyPatch.context() as patch:
        fake_dns(patch, {AGENT_HOST: ["127.0.0.1"]})
        outcome = await runtime.run(ctx)
    async with bench.server.shoal.db.write() as session:  # done, as the worker records it
        row = await session.get(Activation, ctx.activation.id)
        assert row is not None
        row.status, row.outcome, row.lease_owner = "done", outcome.outcome, None
    return outcome


async def test_a_signed_activation_goes_out_and_the_answer_is_the_bots_reply(
    bench: Bench,
) -> None:
    async with receiver(answering(200, {"content": "Found it: page 4.",
                                        "metadata": {"skill": "search"}})) as hook:
        await webhook_bot(bench, hook.url)
        earlier = await bench.say("the deploy notes are somewhere")
        trigger = await bench.say("where are the deploy notes?")
        outcome = await run(bench, trigger)
        assert outcome.outcome == "replied" and outcome.reply_message_id
        [call] = hook.requests
    assert call.method == "POST" and call.path == "/agent"
    expected = hmac.new(SECRET.encode(), call.body, hashlib.sha256).hexdigest()
    assert call.headers["X-Crustocean-Signature"] == expected
    stamp = call.headers["X-Shoal-Timestamp"]
    assert call.headers["X-Shoal-Signature"] == "sha256=" + hmac.new(
        SECRET.encode(), f"{stamp}.".encode() + call.body, hashlib.sha256).hexdigest()
    sent = json.loads(call.body)
    assert sent["event"] == "activation" and sent["trigger_kind"] == "mention"
    assert sent["message"]["id"] == trigger["id"]
    assert sent["agent"]["id"] == bench.bot_id and sent["agent"]["displayName"] == "Scout"
    assert sent["agent"]["persona"] == "You are Scout, terse."
    assert sent["agent"]["description"] == "finds things"
    assert sent["agency"]["id"] == bench.room_id and "charter" in sent["agency"]
    ids = [m["id"] for m in sent["recent_messages"]]
    assert ids[-2:] == [earlier["id"], trigger["id"]] and len(ids) <= 20
    assert SECRET not in call.body.decode()
    [reply] = await bench.messages_after(trigger["seq"])
    assert reply["id"] == outcome.reply_message_id and reply["content"] == "Found it: page 4."
    assert reply["sender_id"] == bench.bot_id and reply["metadata"]["skill"] == "search"
    assert reply["metadata"]["loop_guard"]["hop"] == 1


async def test_without_a_secret_the_call_is_unsigned(bench: Bench) -> None:
    async with receiver(answering(200, {"content": "ok"})) as hook:
        await webhook_bot(bench, hook.url, secret=None)
        outcome = await run(bench, await bench.say("ping"))
    assert outcome.outcome == "replied"
    assert "X-Crustocean-Signature" not in hook.requests[0].headers
    assert "X-Shoal-Signature" not in hook.requests[0].headers


async def test_an_empty_or_silent_answer_posts_nothing(bench: Bench) -> None:
    for answer in ({"content": "NO_REPLY"}, {"content": "  "}, {}):
        async with receiver(answering(200, answer)) as hook:
            await webhook_bot(bench, hook.url)
            trigger = await bench.say("anyone?")
            outcome = await run(bench, trigger)
        assert (outcome.outcome, outcome.skip_reason) == ("skipped", "silent")
        assert await bench.messages_after(trigger["seq"]) == []


async def failure_notice(bench: Bench, trigger: dict[str, Any], outcome: Outcome) -> str:
    """The one message the room shows after a failed activation: a system notice."""
    assert outcome.outcome == "error" and outcome.error
    [notice] = await bench.messages_after(trigger["seq"])
    assert notice["type"] == "system" and notice["sender_type"] == "system"
    assert notice["content"] == f"Scout could not answer: {outcome.error}"
    return str(outcome.error)


async def test_error_answers_are_shown_in_the_room(bench: Bench) -> None:
    cases = [
        (answering(200, {"error": "quota exhausted"}), "quota exhausted"),
        (answering(500, {"error": "boom"}), "the webhook answered HTTP 500: boom"),
        (answering(404, "nope"), "the webhook answered HTTP 404"),
        (answering(200, ["not", "an", "object"]), "the webhook's answer is not a JSON object"),
        (answering(200, {"content": 42}), "the webhook's content is not a string"),
    ]
    for answer, error in cases:
        async with receiver(answer) as hook:
            await webhook_bot(bench, hook.url)
            trigger = await bench.say("status?")
            assert await failure_notice(bench, trigger, await run(bench, trigger)) == error


async def test_an_answer_holding_unusable_text_fails_naming_the_field(bench: Bench) -> None:
    # JSON may spell a lone surrogate; json_response would not, so the body is written raw.
    async def unusable(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b'{"content": "found \\udfff it"}',
                            content_type="application/json")

    async with receiver(unusable) as hook:
        await webhook_bot(bench, hook.url)
        trigger = await bench.say("find it")
        outcome = await run(bench, trigger)
    assert await failure_notice(bench, trigger, outcome) == (
        "the webhook's answer was refused: content holds a lone UTF-16 surrogate (\\udfff), "
        "which is not Unicode text")
    # Nothing of the answer was stored, and the whole history still reads.
    r = await bench.house.member.get(f"/api/agencies/{bench.room_id}/messages")
    assert r.status_code == 200, r.text
    assert "found" not in r.text


async def test_a_slow_endpoint_times_out(bench: Bench) -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(3)
        return web.json_response({"content": "too late"})

    async with receiver(slow) as hook:
        await webhook_bot(bench, hook.url)
        trigger = await bench.say("quick question")
        outcome = await run(bench, trigger, timeout=0.3)
    error = await failure_notice(bench, trigger, outcome)
    assert error == f"{hook.url.replace('127.0.0.1', AGENT_HOST)} did not answer within 0.3 s"


async def test_a_private_address_is_refused_unless_the_operator_allows_it(
    bench: Bench,
) -> None:
    async with receiver(answering(200, {"content": "hi"})) as hook:
        await webhook_bot(bench, hook.url)
        trigger = await bench.say("hello")
        outcome = await run(bench, trigger, loopback=False)
        assert hook.requests == []
    assert f"{AGENT_HOST} resolves to a private, loopback or other internal address" in (
        await failure_notice(bench, trigger, outcome))


async def test_no_url_is_an_error_and_a_mention_in_an_error_wakes_no_one(
    bench: Bench,
) -> None:
    trigger = await bench.say("hello?")
    assert await failure_notice(bench, trigger, await run(bench, trigger)) == (
        "no response_webhook_url configured")
    async with bench.server.shoal.db.read() as session:
        bot = await session.get(User, bench.bot_id)
    assert bot is not None
    async with receiver(answering(200, {"error": f"ask @{bot.username}"})) as hook:
        await webhook_bot(bench, hook.url)
        trigger = await bench.say("again")
        outcome = await run(bench, trigger)
    assert outcome.outcome == "error"
    [notice] = await bench.messages_after(trigger["seq"])
    assert notice["content"] == f"Scout could not answer: ask ＠{bot.username}"
    assert notice["mentions"] == []
    async with bench.server.shoal.db.read() as session:
        woken = (await session.scalars(select(Activation).where(
            Activation.trigger_message_id == notice["id"]))).all()
    assert woken == []


async def test_an_sdk_bot_with_no_socket_in_the_room_waits(bench: Bench) -> None:
    ctx = await bench.context(await bench.say("for the sdk bot"))
    assert (await SdkRuntime().run(ctx)).outcome == "waiting"

