"""A run through the SDK, as the people in its room see it and as its transcript keeps it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from shoal.sdk import Agent, CommandError, Interrupt, Message
from tests.support import Person, ShoalServer, Socket
from tests.test_sdk.bots import SdkBot, make_sdk_bot


@dataclass
class Scene:
    """A connected agent, a person watching the room, and the person's trigger message."""

    bot: SdkBot
    agent: Agent
    person: Person
    watcher: Socket
    trigger: Message


@asynccontextmanager
async def scene(server: ShoalServer) -> AsyncIterator[Scene]:
    bot = await make_sdk_bot(server)
    agent = Agent(server.url, bot.token)
    room_id = await agent.connect_and_join(bot.house.room_id)
    person = bot.house.member
    watcher = await person.socket()
    await watcher.join(room_id)
    ack = await watcher.call("send-message", {"agencyId": room_id,
                                              "content": f"@{bot.username} restart web"})
    try:
        yield Scene(bot, agent, person, watcher, Message.from_wire(ack["message"]))
    finally:
        await watcher.close()
        await agent.close()


async def transcript(person: Person, run_id: str) -> dict[str, Any]:
    r = await person.get(f"/api/runs/{run_id}")
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def pending_permission(watcher: Socket, count: int = 1) -> str:
    return str((await watcher.wait_for("agent-run-permission", count))[-1]["permissionId"])


async def test_full_lifecycle_with_streaming_and_approval(shoal_server: ShoalServer) -> None:
    async with scene(shoal_server) as s:
        run = await s.agent.start_run(s.trigger, name="restart web", description="ops")
        await run.set_status("checking web...")
        call = await run.tool_call("notes", {"args": ""})
        await call.result("No notes in this room yet.")
        stream = run.create_stream()
        for word in ("Restarting ", "web ", "now."):
            await stream.push(word)
        asking = asyncio.create_task(run.request_permission("restart web", "drops connections"))
        permission_id = await pending_permission(s.watcher)
        r = await s.person.post(f"/api/runs/{run.id}/permissions/{permission_id}",
                                {"decision": "approve", "message": "go ahead"})
        assert r.status_code == 200, r.text
        assert await asyncio.wait_for(asking, 5) is True
        await run.record("restart", {"service": "web"})
        stored = await stream.finish(metadata={"skill": "ops"})
        await run.complete("web restarted")

        # The room saw the run live, and its final text once, as a stored message.
        assert stored is not None and stored.content == "Restarting web now."
        assert stored.metadata["run_id"] == run.id and stored.metadata["skill"] == "ops"
        names = [name for name, data in s.watcher.events
                 if name.startswith("agent-run-") and data.get("runId") == run.id]
        for expected in ("agent-run-start", "agent-run-status", "agent-run-tool-call",
                         "agent-run-tool-result", "agent-run-stream", "agent-run-permission",
                         "agent-run-complete"):
            assert expected in names
        posted = [m for m in s.watcher.received("message") if m["id"] == stored.id]
        assert len(posted) == 1
        streamed = [d for d in s.watcher.received("agent-run-stream") if not d.get("done")]
        # Deltas are relayed coalesced; together they spell a prefix of the final text.
        assert streamed and "".join(d["delta"] for d in streamed) == streamed[-1]["content"]
        assert "Restarting web now.".startswith(streamed[-1]["content"])

        run_view = await transcript(s.person, run.id)
        assert run_view["status"] == "completed" and run_view["summary"] == "web restarted"
        assert run_view["trigger_message_id"] == s.trigger.id
        assert run_view["final_message_id"] == stored.id
        entries = run_view["transcript"]
        assert [e["seq"] for e in entries] == sorted({e["seq"] for e in entries})
        kinds = [e["type"] for e in entries if not e["type"].startswith("stream")]
        assert kinds == ["start", "status", "tool-call", "tool-result", "permission-request",
                         "permission-response", "record", "complete"]
        by_kind = {e["type"]: e for e in entries}
        assert by_kind["status"]["status"] == "checking web..."
        assert by_kind["tool-result"]["output"] == "No notes in this room yet."
        assert by_kind["tool-result"]["duration"].endswith("ms")
        assert by_kind["tool-call"]["toolCallId"] == by_kind["tool-result"]["toolCallId"]
        assert by_kind["permission-response"]["decision"] == "approve"
        assert (by_kind["record"]["kind"], by_kind["record"]["data"]) == ("restart",
                                                                          {"service": "web"})
        assert by_kind["stream-end"]["content"] == "Restarting web now."


async def test_denied_and_unanswered_requests_are_false(shoal_server: ShoalServer) -> None:
    async with scene(shoal_server) as s:
        run = await s.agent.start_run(s.trigger, name="two requests")
        asking = asyncio.create_task(run.request_permission("drop table", "irreversible"))
        permission_id = await pending_permission(s.watcher)
        ack = await s.watcher.call("agent-run-permission-decision", {
            "runId": run.id, "permissionId": permission_id, "decision": "deny"})
        assert ack["ok"], ack
        assert await asyncio.wait_for(asking, 5) is False
        # Nobody answers this one: after its timeout it is a deny, in the SDK and the record.
        assert await run.request_permission("reboot", "nobody will answer", timeout=0.3) is False
        await run.complete("did nothing")
        async with asyncio.timeout(5):
            while True:
                responses = [e for e in (await transcript(s.person, run.id))["transcript"]
                             if e["type"] == "permission-response"]
                if len(responses) == 2:
                    break
                await asyncio.sleep(0.1)
        assert [r["decision"] for r in responses] == ["deny", "deny"]


async def test_the_agent_cannot_approve_its_own_request(shoal_server: ShoalServer) -> None:
    async with scene(shoal_server) as s:
        run = await s.agent.start_run(s.trigger)
        asking = asyncio.create_task(run.request_permission("deploy", "to production",
                                                            timeout=5))
        permission_id = await pending_permission(s.watcher)
        r = await shoal_server.http().post("/api/auth/agent",
                                           json={"agentToken": s.bot.token})
        bot_http = shoal_server.http(r.json()["token"])
        r = await bot_http.post(f"/api/runs/{run.id}/permissions/{permission_id}",
                                json={"decision": "approve"})
        assert r.status_code == 403
        stranger = s.bot.house.admin  # not the initiator; admins decide only if the house says
        r = await stranger.post(f"/api/runs/{run.id}/permissions/{permission_id}",
                                {"decision": "approve"})
        assert r.status_code == 403
        assert not asking.done()
        await s.person.post(f"/api/runs/{run.id}/permissions/{permission_id}",
                            {"decision": "approve"})
        assert await asyncio.wait_for(asking, 5) is True
        await run.complete("deployed")


async def test_stop_and_adjust_reach_the_run(shoal_server: ShoalServer) -> None:
    async with scene(shoal_server) as s:
        run = await s.agent.start_run(s.trigger, name="long job")
        heard: list[Interrupt] = []
        run.on_interrupt(heard.append)
        r = await s.person.post(f"/api/runs/{run.id}/interrupt",
                                {"action": "adjust", "message": "use staging"})
        assert r.status_code == 200, r.text
        async with asyncio.timeout(5):
            while not heard:
                await asyncio.sleep(0.01)
        assert heard == [Interrupt("adjust", "use staging")] and not run.interrupted
        asking = asyncio.create_task(run.request_permission("deploy", "to staging"))
        await pending_permission(s.watcher)
        r = await s.person.post(f"/api/runs/{run.id}/interrupt", {"action": "stop"})
        assert r.status_code == 200, r.text
        # Stopping answers the pending request with no, and the agent winds down.
        assert await asyncio.wait_for(asking, 5) is False
        assert run.interrupted and heard[-1] == Interrupt("stop")
        await run.complete("stopped early")
        view = await transcript(s.person, run.id)
        assert view["status"] == "interrupted"
        interrupts = [(e["action"], e["message"]) for e in view["transcript"]
                      if e["type"] == "interrupt"]
        assert interrupts == [("adjust", "use staging"), ("stop", None)]


async def test_a_failed_run_reports_its_error(shoal_server: ShoalServer) -> None:
    async with scene(shoal_server) as s:
        run = await s.agent.start_run(s.trigger, name="doomed")
        await run.error("the disk is full")
        view = await transcript(s.person, run.id)
        assert view["status"] == "error" and view["error"] == "the disk is full"
        assert (await s.watcher.wait_for("agent-run-error"))[0]["error"] == "the disk is full"


async def test_a_run_survives_the_agent_reconnecting(shoal_server: ShoalServer) -> None:
    async with scene(shoal_server) as s:
        run = await s.agent.start_run(s.trigger, name="resilient")
        await run.set_status("before")
        [sid] = [sid for sid, state in shoal_server.shoal.gateway.sockets.items()
                 if state.principal.id == s.bot.id]
        await shoal_server.shoal.gateway.sio.disconnect(sid)
        async with asyncio.timeout(5):
            while s.agent.connected:
                await asyncio.sleep(0.01)
        # Sent while away: it goes out once the agent is back.
        await run.set_status("after")
        await run.complete("done")
        view = await transcript(s.person, run.id)
        assert view["status"] == "completed"
        assert [e["status"] for e in view["transcript"] if e["type"] == "status"] == [
            "before", "after"]


async def test_tool_call_with_a_command_alone_runs_it_silently_and_draws_its_card(
        shoal_server: ShoalServer) -> None:
    async with scene(shoal_server) as s:
        saved = await s.watcher.call("send-message", {
            "agencyId": s.trigger.agency_id, "content": "/save known-issues the cache leaks"})
        assert saved["ok"], saved
        run = await s.agent.start_run(s.trigger, name="diagnose")
        notes = await run.tool_call("/get known-issues")
        assert notes.ok and notes.content == "known-issues: the cache leaks"
        with pytest.raises(CommandError):
            await run.tool_call("/no-such-command")
        await run.complete("diagnosed")

        entries = (await transcript(s.person, run.id))["transcript"]
        calls = [e for e in entries if e["type"] == "tool-call"]
        results = [e for e in entries if e["type"] == "tool-result"]
        assert [(c["tool"], c["input"]) for c in calls] == [
            ("get", "/get known-issues"), ("no-such-command", "/no-such-command")]
        assert [(r["toolCallId"], r["status"]) for r in results] == [
            (calls[0]["toolCallId"], "done"), (calls[1]["toolCallId"], "error")]
        assert results[0]["output"] == "known-issues: the cache leaks"
        # Silent: the room got the card, not a message with the command's answer.
        assert not [m for m in s.watcher.received("message") if "cache leaks" in m["content"]
                    and m["sender_id"] == s.bot.id]
