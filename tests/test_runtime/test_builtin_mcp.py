"""A builtin agent on the fake provider uses a house's MCP tools: the result reaches the model
with a tool card in the run, and a server gone down gives the model an error it reads."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from shoal.llm.fakeserver import FakeLLMServer, FakeToolCall, Reply
from tests.test_runtime.conftest import Bench
from tests.test_runtime.test_builtin_runs import run_of
from tests.test_tools.mcp_servers import Served, demo_server, serve_mcp


@pytest.fixture(scope="module")
async def demo() -> Any:
    async with serve_mcp(demo_server()) as served:
        yield served


async def registered(bench: Bench, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench.server.shoal.settings, "outbound_allow_private", True)
    r = await bench.house.owner.post(f"/api/houses/{bench.house.id}/mcp-servers",
                                     {"name": "demo", "url": url})
    assert r.status_code == 201 and r.json()["state"] == "ready", r.text


def tool_result(fake: FakeLLMServer, index: int) -> str:
    messages = fake.requests[index].body["messages"]
    return str(next(m["content"] for m in messages if m["role"] == "tool"))


async def test_an_agent_calls_an_mcp_tool_and_answers_with_its_result(
        bench: Bench, fake: FakeLLMServer, demo: Served,
        monkeypatch: pytest.MonkeyPatch) -> None:
    await registered(bench, demo.url, monkeypatch)
    fake.script(Reply(tool_calls=[FakeToolCall("demo__add", {"a": 19, "b": 23})]),
                Reply("It is 42."))
    trigger = await bench.say("Scout, what is 19 + 23?")
    outcome = await bench.run(trigger)
    assert outcome.outcome == "replied"
    offered = {t["function"]["name"] for t in fake.requests[0].body["tools"]}
    assert {"demo__add", "demo__fail", "demo__needs_key"} <= offered
    assert tool_result(fake, 1) == '42\n{"result": 42}'
    cards = {e["type"]: e for e in (await run_of(bench))["transcript"]
             if e["type"].startswith("tool-")}
    assert cards["tool-call"]["tool"] == "demo__add"
    assert cards["tool-result"]["status"] == "done"


async def test_a_server_that_went_down_gives_a_tool_error_and_the_agent_still_answers(
        bench: Bench, fake: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    async with serve_mcp(demo_server()) as served:
        await registered(bench, served.url, monkeypatch)
        await served.stop()  # after its tools were listed: they are still offered
        fake.script(Reply(tool_calls=[FakeToolCall("demo__add", {"a": 1, "b": 2})]),
                    Reply("The calculator is down, sorry."))
        trigger = await bench.say("Scout, what is 1 + 2?")
        outcome = await bench.run(trigger)
    assert outcome.outcome == "replied"
    assert tool_result(fake, 1).startswith("error: the MCP server demo is unreachable")
    [reply] = await bench.messages_after(trigger["seq"])
    assert reply["content"] == "The calculator is down, sorry."


async def test_a_server_that_stops_between_model_steps_gives_the_next_call_a_tool_error(
        bench: Bench, fake: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    async with serve_mcp(demo_server()) as served:
        await registered(bench, served.url, monkeypatch)
        # The second model call streams slowly: the server is stopped while it runs, after
        # the first call's answer and before the second call.
        fake.script(Reply(tool_calls=[FakeToolCall("demo__add", {"a": 1, "b": 2})]),
                    Reply("Let me check that once more. " * 4, chunk_delay=0.1,
                          tool_calls=[FakeToolCall("demo__add", {"a": 1, "b": 2})]),
                    Reply("It was 3, then the calculator went down."))
        trigger = await bench.say("Scout, what is 1 + 2? Check it twice.")
        running = asyncio.create_task(bench.run(trigger))
        async with asyncio.timeout(15):
            while len(fake.requests) < 2:
                await asyncio.sleep(0.02)
        await served.stop()
        outcome = await running
    assert outcome.outcome == "replied"
    assert tool_result(fake, 1) == '3\n{"result": 3}'
    second = [m["content"] for m in fake.requests[2].body["messages"] if m["role"] == "tool"]
    assert second[1].startswith("error: the MCP server demo is unreachable")
    [reply] = await bench.messages_after(trigger["seq"])
    assert reply["content"] == "It was 3, then the calculator went down."
