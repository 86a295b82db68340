"""Builtin activations that call tools are runs: tool cards, gates, stop and adjust."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from shoal.llm.fakeserver import FakeLLMServer, FakeToolCall, Reply
from shoal.runtime.base import Outcome
from tests.support import Socket
from tests.test_runtime.conftest import Bench


async def watch(bench: Bench) -> Socket:
    sock = await bench.house.member.socket()
    await sock.join(bench.room_id)
    return sock


async def run_of(bench: Bench) -> dict[str, Any]:
    """The room's latest run with its transcript."""
    r = await bench.house.member.get(f"/api/agencies/{bench.room_id}/runs")
    r = await bench.house.member.get(f"/api/runs/{r.json()[0]['id']}")
    return r.json()  # type: ignore[no-any-return]


async def gated_run(bench: Bench, fake: FakeLLMServer, answer: str
                    ) -> tuple[Socket, asyncio.Task[Outcome], dict[str, Any], dict[str, Any]]:
    """An activation whose /save call waits for approval; returns once the room sees it."""
    await bench.configure(model={"primary": "openai/fake-gpt"}, tools={"approval": ["save"]})
    fake.script(Reply(tool_calls=[FakeToolCall("save", {"key": "k", "value": "v"})]),
                Reply(answer))
    sock = await watch(bench)
    trigger = await bench.say("save k v please")
    task = asyncio.create_task(bench.run(trigger))
    (asked,) = await sock.wait_for("agent-run-permission")
    return sock, task, asked, trigger


async def notes(bench: Bench) -> str:
    r = await bench.house.member.post(f"/api/agencies/{bench.room_id}/messages",
                                      {"content": "/notes"})
    return str(r.json()["content"])


async def test_tool_calls_are_cards_and_the_reply_is_the_runs_message(
        bench: Bench, fake: FakeLLMServer) -> None:
    fake.script(Reply(tool_calls=[FakeToolCall("save", {"key": "a", "value": "b"})]),
                Reply("Saved it."))
    sock = await watch(bench)
    trigger = await bench.say("Scout, save a b")
    outcome = await bench.run(trigger)
    assert outcome.outcome == "replied"
    [reply] = await bench.messages_after(trigger["seq"])
    assert reply["id"] == outcome.reply_message_id and reply["content"] == "Saved it."
    run = await run_of(bench)
    assert reply["metadata"]["run_id"] == run["id"] and run["final_message_id"] == reply["id"]
    assert reply["metadata"]["activation_id"] and reply["metadata"]["loop_guard"]["hop"] == 1
    assert run["status"] == "completed" and run["trigger_message_id"] == trigger["id"]
    cards = {e["type"]: e for e in run["transcript"] if e["type"].startswith("tool-")}
    assert cards["tool-call"]["tool"] == "save"
    assert cards["tool-call"]["input"] == {"key": "a", "value": "b"}
    assert cards["tool-result"]["output"] == "Saved note a."
    assert cards["tool-result"]["status"] == "done"
    assert cards["tool-result"]["duration"].endswith("ms")
    assert "running /save" in [e.get("status") for e in run["transcript"]]
    await sock.wait_for("agent-run-complete")
    assert len(sock.received("agent-run-tool-result")) == 1
    streamed = sock.received("agent-run-stream")  # the answer, live as the model wrote it
    assert streamed[0]["done"] is False and streamed[0]["content"] in "Saved it."
    assert streamed[-1]["done"] is True and streamed[-1]["storedMessageId"] == reply["id"]
    # The cards are stored behind the call, yet the transcript keeps the order of events.
    types = [e["type"] for e in run["transcript"]]
    assert types[:4] == ["start", "tool-call", "status", "tool-result"]
    assert types.index("tool-result") < types.index("stream-start") \
        < types.index("stream-end") < types.index("complete")
    assert [e["seq"] for e in run["transcript"]] == list(range(1, len(types) + 1))
    assert [e["t"] for e in run["transcript"]] == sorted(e["t"] for e in run["transcript"])
    await sock.close()


async def test_a_gated_tool_runs_once_approved(bench: Bench, fake: FakeLLMServer) -> None:
    sock, task, asked, _ = await gated_run(bench, fake, "Saved.")
    assert asked["action"] == "/save"
    r = await bench.house.member.post(
        f"/api/runs/{asked['runId']}/permissions/{asked['permissionId']}",
        {"decision": "approve"})
    assert r.status_code == 200, r.text
    assert (await task).outcome == "replied"
    assert "k" in await notes(bench)
    types = [e["type"] for e in (await run_of(bench))["transcript"]]
    assert types.index("tool-call") < types.index("permission-request") \
        < types.index("permission-response") < types.index("tool-result")
    await sock.close()


async def test_a_denied_tool_is_not_run(bench: Bench, fake: FakeLLMServer) -> None:
    sock, task, asked, _ = await gated_run(bench, fake, "I was not allowed.")
    r = await bench.house.member.post(
        f"/api/runs/{asked['runId']}/permissions/{asked['permissionId']}",
        {"decision": "deny"})
    assert r.status_code == 200, r.text
    assert (await task).outcome == "replied"
    assert "denied /save" in json.dumps(fake.requests[1].body)
    assert "No notes" in await notes(bench)
    result = [e for e in (await run_of(bench))["transcript"] if e["type"] == "tool-result"]
    assert [(e["output"], e["status"]) for e in result] == [("denied", "error")]
    await sock.close()


async def test_stop_ends_the_run_at_the_next_model_call(bench: Bench, fake: FakeLLMServer
                                                        ) -> None:
    sock, task, asked, trigger = await gated_run(bench, fake, "never said")
    run_url = f"/api/runs/{asked['runId']}"
    assert (await bench.house.admin.post(f"{run_url}/interrupt",
                                         {"action": "stop"})).status_code == 200
    await bench.house.member.post(f"{run_url}/permissions/{asked['permissionId']}",
                                  {"decision": "approve"})
    outcome = await task
    assert (outcome.outcome, outcome.skip_reason) == ("skipped", "interrupted")
    assert len(fake.requests) == 1 and await bench.messages_after(trigger["seq"]) == []
    assert (await run_of(bench))["status"] == "interrupted"
    await sock.close()


async def test_adjust_becomes_the_next_user_turn(bench: Bench, fake: FakeLLMServer) -> None:
    sock, task, asked, _ = await gated_run(bench, fake, "Adjusted.")
    run_url = f"/api/runs/{asked['runId']}"
    r = await bench.house.admin.post(f"{run_url}/interrupt",
                                     {"action": "adjust", "message": "use key z instead"})
    assert r.status_code == 200, r.text
    await bench.house.member.post(f"{run_url}/permissions/{asked['permissionId']}",
                                  {"decision": "approve"})
    assert (await task).outcome == "replied"
    last = fake.requests[1].body["messages"][-1]
    assert last["role"] == "user" and "use key z instead" in last["content"]
    assert (await run_of(bench))["status"] == "completed"
    await sock.close()
