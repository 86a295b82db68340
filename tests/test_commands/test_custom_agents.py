"""A house's own commands as agents' tools: a builtin agent calls one through its model's tool
call, an SDK agent through executeCommand; either way the webhook hears an agent and the answer
goes to the agent, not the room."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import web

from shoal.llm.fakeserver import FakeLLMServer, FakeToolCall, Reply
from shoal.sdk import Agent, CommandError
from tests.receiver import receiver
from tests.support import House, ShoalServer
from tests.test_runtime.conftest import Bench, bench, fake, fake_server  # noqa: F401
from tests.test_sdk.bots import make_sdk_bot


def answering(body: Any) -> Any:
    async def answer(request: web.Request) -> web.StreamResponse:
        return web.json_response(body)
    return answer


async def register(house: House, url: str, name: str, **fields: Any) -> None:
    r = await house.owner.post(f"/api/custom-commands/{house.room_id}/commands",
                               {"name": name, "webhook_url": url, **fields})
    assert r.status_code == 201, r.text


async def test_a_builtin_agent_calls_it_as_a_tool(
        bench: Bench, fake: FakeLLMServer,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench.server.shoal.settings, "outbound_allow_private", True)
    async with receiver(answering({"content": "Standup: 3 done, 1 blocked"})) as hook:
        await register(bench.house, hook.url, "standup", description="Summarize the standup.")
        await register(bench.house, hook.url, "deploy", invoke_permission="closed")
        fake.script(
            Reply(tool_calls=[FakeToolCall("standup", {"args": "today --team core"})]),
            Reply(tool_calls=[FakeToolCall("deploy", {"args": "prod"})]),
            Reply("Standup: mostly done; I may not deploy."),
        )
        trigger = await bench.say("Scout, how did standup go? Then deploy.")
        outcome = await bench.run(trigger)
        [call] = hook.requests
    assert outcome.outcome == "replied", outcome
    tools = {t["function"]["name"]: t["function"] for t in fake.requests[0].body["tools"]}
    assert tools["standup"]["description"].startswith("Summarize the standup.")
    assert "args" in tools["standup"]["parameters"]["properties"]
    sent = json.loads(call.body)
    assert (sent["command"], sent["rawArgs"]) == ("standup", "today --team core")
    assert (sent["positional"], sent["flags"]) == (["today"], {"team": "core"})
    assert sent["sender"]["userId"] == bench.bot_id and sent["sender"]["type"] == "agent"
    # The answer went to the model; the closed command was refused, and the model heard why.
    tool_turns = [m for m in fake.requests[2].body["messages"] if m["role"] == "tool"]
    assert [m["content"] for m in tool_turns] == [
        "Standup: 3 done, 1 blocked",
        "error: you may not run /deploy: it is closed to all but the house owner"]
    after = await bench.messages_after(trigger["seq"])
    assert [m["content"] for m in after] == ["Standup: mostly done; I may not deploy."]


async def test_a_tool_policy_can_leave_it_out(bench: Bench, fake: FakeLLMServer  # noqa: F811
                                              ) -> None:
    await register(bench.house, "https://example.com/standup", "standup")
    await bench.configure(model={"primary": "openai/fake-gpt", "fallbacks": []},
                          tools={"deny": ["standup"]})
    fake.script(Reply("Nothing to run."))
    await bench.run(await bench.say("Scout, anything?"))
    names = {t["function"]["name"] for t in fake.requests[0].body["tools"]}
    assert "standup" not in names and "roll" in names


async def test_an_sdk_agent_runs_it_with_execute_command(
        shoal_server: ShoalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shoal_server.shoal.settings, "outbound_allow_private", True)
    bot = await make_sdk_bot(shoal_server)
    async with receiver(answering({"content": "Standup: green", "type": "system"})) as hook:
        await register(bot.house, hook.url, "standup")
        await register(bot.house, hook.url, "deploy", invoke_permission="whitelist",
                       invoke_whitelist=["someone-else"])
        async with Agent(shoal_server.url, bot.token) as agent:
            await agent.join(bot.house.room_id)
            result = await agent.execute_command("/standup --since yesterday")
            with pytest.raises(CommandError) as refused:
                await agent.execute_command("/deploy prod")
        [call] = hook.requests
    assert (result.ok, result.command, result.content, result.type) == (
        True, "standup", "Standup: green", "system")
    assert refused.value.command == "deploy"
    assert "only its whitelist and the house owner may" in refused.value.message
    sent = json.loads(call.body)
    assert sent["flags"] == {"since": "yesterday"}
    assert sent["sender"] == {"userId": bot.id, "username": bot.username,
                              "displayName": "Sdk Bot", "type": "agent"}
    r = await bot.house.owner.get(f"/api/agencies/{bot.house.room_id}/messages")
    assert r.json() == []
