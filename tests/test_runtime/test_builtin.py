"""The builtin runtime through a real server: tools run silently, one reply or none, edits
take effect, failures are shown, and the model sees what it should."""

from __future__ import annotations

import asyncio
import json

from shoal.llm import NO_REPLY, OFFLINE_NOTICE
from shoal.llm.fakeserver import FakeLLMServer, FakeToolCall, Fault, Reply
from shoal.store.tables import User
from tests.support import Socket
from tests.test_runtime.conftest import Bench, builtin_runtime


def sent(fake: FakeLLMServer, index: int) -> str:
    """One request the model received, as text to search."""
    return json.dumps(fake.requests[index].body)


async def bot_thinking(sock: Socket, bot_id: str) -> list[str | bool]:
    """The bot's thinking statuses the room saw, until it stopped (False)."""
    async with asyncio.timeout(5):
        while True:
            seen = [e["status"] if e["thinking"] else False
                    for e in sock.received("agent-thinking") if e["userId"] == bot_id]
            if seen and seen[-1] is False:
                return seen
            await sock.wait_for("agent-thinking", len(sock.received("agent-thinking")) + 1)


def tool_names(fake: FakeLLMServer, index: int) -> set[str]:
    return {t["function"]["name"] for t in fake.requests[index].body.get("tools", [])}


async def test_tool_calls_run_silently_and_their_results_reach_the_model(
        bench: Bench, fake: FakeLLMServer) -> None:
    sock = await bench.house.member.socket()
    await sock.join(bench.room_id)
    fake.script(
        Reply(tool_calls=[FakeToolCall("save", {"key": "deploy", "value": "it's Thursday"})],
              input_tokens=100, output_tokens=7),
        Reply(tool_calls=[FakeToolCall("notes")], input_tokens=120, output_tokens=3),
        Reply("Noted: deploy is on Thursday.", input_tokens=140, output_tokens=6),
    )
    trigger = await bench.say("Scout, remember that we deploy on Thursday")

    outcome = await bench.run(trigger)

    assert outcome.outcome == "replied"
    assert (outcome.input_tokens, outcome.output_tokens) == (360, 16)
    assert outcome.model == "openai/fake-gpt"
    assert "Saved note deploy." in sent(fake, 1)
    assert "Notes: deploy" in sent(fake, 2)
    after = await bench.messages_after(trigger["seq"])
    assert [(m["sender_id"], m["content"]) for m in after] == [
        (bench.bot_id, "Noted: deploy is on Thursday.")]
    assert after[0]["id"] == outcome.reply_message_id
    # The note really is saved, apostrophe and all.
    r = await bench.house.member.post(f"/api/agencies/{bench.room_id}/messages",
                                      {"content": "/get deploy"})
    assert r.json()["content"] == "deploy: it's Thursday"
    thinking = await bot_thinking(sock, bench.bot_id)
    assert ("running /save" in thinking) and ("running /notes" in thinking)
    assert thinking[-1] is False
    await sock.close()

    # The next activation remembers its earlier tool turns, before the reply they led to.
    fake.script(Reply("Still Thursday."))
    await bench.run(await bench.say("Scout, when do we deploy?"))
    messages = fake.requests[3].body["messages"]
    results = [i for i, m in enumerate(messages) if m["role"] == "tool"]
    reply = next(i for i, m in enumerate(messages)
                 if m["role"] == "assistant" and m["content"] == "Noted: deploy is on Thursday.")
    assert results and max(results) < reply
    assert "Saved note deploy." in messages[results[0]]["content"]


async def test_the_silent_token_posts_nothing(bench: Bench, fake: FakeLLMServer) -> None:
    fake.script(Reply(NO_REPLY))
    trigger = await bench.say("just chatting, nothing for the bot")
    outcome = await bench.run(trigger)
    assert (outcome.outcome, outcome.skip_reason) == ("skipped", "silent")
    assert await bench.messages_after(trigger["seq"]) == []


async def test_unusable_text_from_the_model_is_cleaned_before_it_is_stored(
        bench: Bench, fake: FakeLLMServer) -> None:
    # The provider's JSON spells a lone surrogate and a NUL; the reply is kept, cleaned.
    fake.script(Reply("half \udfff a pair, a nul \x00 here"))
    trigger = await bench.say("Scout, say something odd")
    outcome = await bench.run(trigger)
    assert outcome.outcome == "replied"
    [reply] = await bench.messages_after(trigger["seq"])
    assert reply["content"] == "half \ufffd a pair, a nul  here"


async def test_an_edit_takes_effect_on_the_next_activation(bench: Bench, fake: FakeLLMServer
                                                           ) -> None:
    await bench.configure(model={"primary": "openai/fake-gpt"},
                          system_prompt="You are a pirate.")
    await bench.run(await bench.say("hello"))
    await bench.configure(model={"primary": "openai/fake-gpt"},
                          system_prompt="You are a librarian.", tools={"deny": ["save", "clear*"]})
    await bench.run(await bench.say("hello again"))
    first, second = (fake.requests[i].body["messages"][0] for i in (0, 1))
    assert first["role"] == second["role"] == "system"
    assert "You are a pirate." in first["content"]
    assert "You are a librarian." in second["content"] and "pirate" not in second["content"]
    # A denied tool is not offered, nor described in the prompt.
    assert {"save", "clearnote"} <= tool_names(fake, 0)
    assert "notes" in tool_names(fake, 1) and not {"save", "clearnote"} & tool_names(fake, 1)
    assert "- save:" not in second["content"]


async def test_a_failure_posts_a_short_error_in_the_room(bench: Bench, fake: FakeLLMServer
                                                         ) -> None:
    fake.script(Fault.http(500))
    trigger = await bench.say("are you there?")
    outcome = await bench.run(trigger)
    assert outcome.outcome == "error" and "every model failed" in (outcome.error or "")
    [shown] = await bench.messages_after(trigger["seq"])
    assert shown["content"].startswith("Scout could not answer: every model failed: "
                                       "openai/fake-gpt")
    assert shown["mentions"] == []  # it must not wake the bot it speaks of
    assert "sk-test" not in shown["content"]
    assert shown["type"] == "system" and shown["metadata"]["error"] is True
    assert shown["metadata"]["activation_id"] and shown["sender_display_name"] == "Scout"

    await bench.configure(model={"primary": "nowhere/model"})
    outcome = await bench.run(await bench.say("and now?"))
    assert outcome.outcome == "error" and "unknown provider 'nowhere'" in (outcome.error or "")


async def test_interrupted_before_the_first_call_stops_without_a_model_call(
        bench: Bench, fake: FakeLLMServer) -> None:
    trigger = await bench.say("hello")
    ctx = await bench.context(trigger)
    ctx.interrupted.set()
    outcome = await bench.run(trigger, ctx)
    assert (outcome.outcome, outcome.skip_reason) == ("skipped", "interrupted")
    assert fake.requests == [] and await bench.messages_after(trigger["seq"]) == []


async def test_the_offline_model_uses_a_tool_and_answers_end_to_end(bench: Bench) -> None:
    await bench.configure(model={"primary": "offline"})
    r = await bench.house.member.post(f"/api/agencies/{bench.room_id}/messages",
                                      {"content": "/save plan ship on friday"})
    assert r.json()["ok"], r.json()
    trigger = await bench.say("Scout, what is in /notes here?")
    outcome = await bench.run(trigger)
    assert outcome.outcome == "replied" and outcome.model == "offline/shoal-offline"
    [reply] = await bench.messages_after(trigger["seq"])
    assert reply["sender_id"] == bench.bot_id
    assert reply["content"].startswith(OFFLINE_NOTICE)
    assert "The /notes command returned: Notes: plan" in reply["content"]
    assert reply["metadata"]["loop_guard"]["hop"] == 1


async def test_a_check_in_without_a_trigger_can_stay_silent(bench: Bench) -> None:
    await bench.configure(model={"primary": "offline"})
    before = await bench.say("a quiet room")
    outcome = await bench.run(None)
    assert (outcome.outcome, outcome.skip_reason) == ("skipped", "silent")
    assert await bench.messages_after(before["seq"]) == []



async def test_a_mention_is_answered_once_through_dispatch_and_the_worker(bench: Bench) -> None:
    await bench.configure(model={"primary": "offline"})
    worker = bench.server.shoal.worker
    saved = dict(worker.runtimes)
    worker.runtimes["builtin"] = builtin_runtime(bench.server.shoal)
    try:
        async with bench.server.shoal.db.read() as session:
            bot = await session.get(User, bench.bot_id)
            assert bot is not None
        trigger = await bench.say(f"@{bot.username} hello there")
        async with asyncio.timeout(10):
            while not (after := await bench.messages_after(trigger["seq"])):
                await asyncio.sleep(0.05)
    finally:
        worker.runtimes.clear()
        worker.runtimes.update(saved)
    [reply] = after
    assert reply["sender_id"] == bench.bot_id
    assert reply["content"].startswith(OFFLINE_NOTICE) and "hello there" in reply["content"]
    assert reply["metadata"]["activation_id"]


async def test_the_room_sees_the_agent_status_thinking_running_and_idle(
        bench: Bench, fake: FakeLLMServer) -> None:
    sock = await bench.house.member.socket()
    await sock.join(bench.room_id)
    fake.script(Reply(tool_calls=[FakeToolCall("notes")]), Reply("No notes yet."))
    await bench.run(await bench.say("Scout, any notes?"))
    await bot_thinking(sock, bench.bot_id)
    statuses = [e for e in sock.received("agent-status") if e["agentId"] == bench.bot_id]
    assert [e["status"] for e in statuses] == ["thinking", "running", "thinking", "idle"]
    assert statuses[1] == {"agencyId": bench.room_id, "agentId": bench.bot_id,
                           "userId": bench.bot_id, "username": statuses[1]["username"],
                           "displayName": "Scout", "status": "running",
                           "detail": "running /notes"}
    await sock.close()


async def test_builtin_bots_are_online_in_member_lists_without_a_socket(bench: Bench) -> None:
    members = (await bench.house.member.get(f"/api/agencies/{bench.room_id}/members")).json()
    assert next(m for m in members if m["id"] == bench.bot_id)["online"] is True
    registry = (await bench.house.member.get(f"/api/houses/{bench.house.id}/members")).json()
    assert next(m for m in registry if m["id"] == bench.bot_id)["online"] is True
    await bench.configure(runtime="sdk")  # an SDK bot is online only while it is connected
    members = (await bench.house.member.get(f"/api/agencies/{bench.room_id}/members")).json()
    assert next(m for m in members if m["id"] == bench.bot_id)["online"] is False


async def test_an_agent_with_its_own_key_calls_its_provider_with_that_key(
        bench: Bench, fake: FakeLLMServer) -> None:
    shoal = bench.server.shoal
    await bench.configure(model={"primary": "openai/fake-gpt", "fallbacks": []},
                          llm_provider="openai", llm_api_key=shoal.secrets.encrypt("sk-scout-own"))
    fake.script(Reply("Paid for by Scout."))
    outcome = await bench.run(await bench.say("Scout, hello"))
    assert outcome.outcome == "replied"
    assert [r.api_key for r in fake.requests] == ["sk-scout-own"]
