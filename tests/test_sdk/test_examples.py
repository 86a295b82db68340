"""The examples in examples/ run against a real Shoal and do what their docstrings say."""

from __future__ import annotations

import asyncio
from typing import Any

from shoal.llm import OFFLINE_NOTICE
from tests.support import ShoalServer, Socket
from tests.test_sdk.bots import make_sdk_bot
from tests.test_sdk.examples import running_example


async def replies_from(sock: Socket, username: str, count: int = 1) -> list[dict[str, Any]]:
    async with asyncio.timeout(15):
        while True:
            found = [m for m in sock.received("message") if m["sender_username"] == username]
            if len(found) >= count:
                return found
            await sock.wait_for("message", len(sock.received("message")) + 1)


async def test_self_healing_replies_once_with_its_trace(shoal_server: ShoalServer) -> None:
    bot = await make_sdk_bot(shoal_server, "Medic")
    room_id = bot.house.room_id
    member = await bot.house.member.socket()
    await member.join(room_id)
    await member.call("send-message", {"agencyId": room_id,
                                       "content": "/save known-issues disk full on db-2"})
    async with running_example(shoal_server, bot, "self_healing"):
        await shoal_server.shoal.chat.post_system(room_id, f"@{bot.username} 5xx on /checkout",
                                                  sender_name="Alerts")
        [reply] = await replies_from(member, bot.username)
        await asyncio.sleep(0.5)  # a second reply would arrive here
        assert len(await replies_from(member, bot.username)) == 1
    assert "disk full on db-2" in reply["content"] and "known-issues" in reply["content"]
    steps = reply["metadata"]["trace"]
    assert [(s["step"], s["status"]) for s in steps] == [("/get known-issues", "done"),
                                                         ("/notes", "done")]
    assert reply["metadata"]["duration"].endswith("ms")
    assert reply["metadata"]["loop_guard"]["hop"] == 1
    # The /save and the probes were silent: the room saw only the alert and the reply.
    assert [m["sender_username"] for m in member.received("message")] == [
        "system", bot.username]
    await member.close()


async def test_llm_agent_answers_a_mention_with_the_offline_model(shoal_server: ShoalServer
                                                                  ) -> None:
    bot = await make_sdk_bot(shoal_server, "Thinker")
    room_id = bot.house.room_id
    member = await bot.house.member.socket()
    await member.join(room_id)
    async with running_example(shoal_server, bot, "llm_agent"):
        await member.call("send-message", {"agencyId": room_id,
                                           "content": f"@{bot.username} what is a shoal?"})
        [reply] = await replies_from(member, bot.username)
        await member.call("send-message", {"agencyId": room_id, "content": "no mention here"})
        await asyncio.sleep(0.5)
        assert len(await replies_from(member, bot.username)) == 1
    assert OFFLINE_NOTICE in reply["content"] and "what is a shoal?" in reply["content"]
    assert reply["metadata"]["model"] == "offline/shoal-offline"
    await member.close()


async def test_ops_agent_runs_a_tool_asks_and_completes(shoal_server: ShoalServer) -> None:
    bot = await make_sdk_bot(shoal_server, "Ops")
    room_id = bot.house.room_id
    member = await bot.house.member.socket()
    await member.join(room_id)
    async with running_example(shoal_server, bot, "ops_agent"):
        await member.call("send-message", {"agencyId": room_id,
                                           "content": f"@{bot.username} restart api"})
        [request] = await member.wait_for("agent-run-permission", timeout=15)
        assert request["action"] == "restart api"
        r = await bot.house.member.post(
            f"/api/runs/{request['runId']}/permissions/{request['permissionId']}",
            {"decision": "approve"})
        assert r.status_code == 200, r.text
        [reply] = await replies_from(member, bot.username)
        await member.wait_for("agent-run-complete")
    assert reply["content"].strip() == "Restarted api; it is healthy again."
    assert reply["metadata"]["run_id"] == request["runId"]
    run = (await bot.house.member.get(f"/api/runs/{request['runId']}")).json()
    assert run["status"] == "completed" and run["summary"] == "api restarted"
    kinds = [e["type"] for e in run["transcript"] if not e["type"].startswith("stream")]
    assert kinds == ["start", "status", "tool-call", "tool-result", "status",
                     "permission-request", "permission-response", "record", "complete"]
    await member.close()
