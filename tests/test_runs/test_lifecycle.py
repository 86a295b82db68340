"""A run from start to complete, as watchers and the API see it."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from itertools import pairwise

from shoal.store.tables import utcnow
from tests.support import unique
from tests.test_runs.conftest import Scene, add_agent

RUN_EVENTS = ("agent-run-start", "agent-run-status", "agent-run-tool-call",
              "agent-run-tool-result", "agent-run-stream", "agent-run-complete")


async def gone(scene: Scene) -> None:
    """Until the server has seen the agent's last socket close."""
    async with asyncio.timeout(5):
        while scene.agent_id in scene.server.shoal.gateway.online_users():
            await asyncio.sleep(0.01)


def run_events(scene: Scene, run_id: str) -> list[tuple[str, dict]]:
    return [(name, data) for name, data in scene.watcher.events
            if name.startswith("agent-run-") and data.get("runId") == run_id]


async def test_full_lifecycle_is_watched_stored_and_read_back(scene: Scene) -> None:
    run_id = await scene.start_run(name="fix build", description="make CI green")
    assert (await scene.emit("agent-run-status", run_id, status="diagnosing..."))["ok"]
    ack = await scene.emit("agent-run-tool-call", run_id, toolCallId="t1", tool="grep",
                           input={"pattern": "error"}, status="running")
    assert ack["ok"], ack
    ack = await scene.emit("agent-run-tool-result", run_id, toolCallId="t1", tool="grep",
                           output="3 matches", duration="34ms", status="done")
    assert ack["ok"], ack
    words = [f"word{i} " for i in range(200)]
    content = ""
    for word in words:  # sent without waiting for acks, as an SDK streams
        content += word
        await scene.agent.client.emit("agent-run-stream", {
            "runId": run_id, "agencyId": scene.room_id, "messageId": "m1", "delta": word,
            "content": content, "done": False})
    ack = await scene.emit("agent-run-stream", run_id, messageId="m1", content=content,
                           done=True, metadata={"skill": "ops"})
    assert ack["ok"], ack
    stored = ack["message"]
    assert stored["content"] == content and stored["metadata"]["run_id"] == run_id
    assert stored["sender_id"] == scene.agent_id
    ack = await scene.emit("agent-run-complete", run_id, summary="fixed", transcript=[])
    assert ack == {"ok": True, "runId": run_id, "seq": ack["seq"], "status": "completed"}

    await scene.watcher.wait_for("agent-run-complete")
    seen = run_events(scene, run_id)
    names = [name for name, _ in seen]
    assert names[:4] == list(RUN_EVENTS[:4]) and names[-1] == "agent-run-complete"
    streams = [data for name, data in seen if name == "agent-run-stream"]
    assert 2 <= len(streams) < len(words)  # coalesced, not one per token
    assert all(s["content"] == content[:len(s["content"])] for s in streams)
    assert streams[-1]["done"] is True and streams[-1]["content"] == content
    assert [d["seq"] for _, d in seen if "seq" in d] == sorted(d["seq"] for _, d in seen)
    posted = [m for m in scene.watcher.received("message") if m["id"] == stored["id"]]
    assert len(posted) == 1

    run = await scene.run(run_id)
    assert run["status"] == "completed" and run["summary"] == "fixed"
    assert run["final_message_id"] == stored["id"]
    assert run["trigger_message_id"] == scene.trigger_id
    assert run["name"] == "fix build" and run["description"] == "make CI green"
    types = [e["type"] for e in run["transcript"]]
    assert types[:4] == ["start", "status", "tool-call", "tool-result"]
    assert types[-2:] == ["stream-end", "complete"] and "stream-start" in types
    assert len(types) < 20  # checkpoints, not tokens
    result = run["transcript"][3]
    assert result["output"] == "3 matches" and result["duration"] == "34ms"
    assert [e["seq"] for e in run["transcript"]] == list(range(1, len(types) + 1))
    assert all(a["t"] <= b["t"] for a, b in pairwise(run["transcript"]))
    r = await scene.house.guest.get(f"/api/agencies/{scene.room_id}/runs")
    listed = next(x for x in r.json() if x["id"] == run_id)
    assert listed["agent_username"] and listed["status"] == "completed"
    assert (await scene.emit("agent-run-status", run_id, status="late"))["ok"] is False


async def test_only_the_runs_agent_may_add_to_it(scene: Scene) -> None:
    run_id = await scene.start_run()
    other_id, token = await add_agent(scene.server, scene.house.owner, scene.room_id)
    other = await scene.server.socket(token)
    for event, fields in (("agent-run-status", {"status": "mine now"}),
                          ("agent-run-complete", {"summary": "done"}),
                          ("agent-run-stream", {"messageId": "x", "delta": "hi"})):
        ack = await other.call(event, {"runId": run_id, "agencyId": scene.room_id, **fields})
        assert ack == {"ok": False, "error":
                       "you may not add to this run: only the agent that started it may"}
    person = await scene.house.member.socket()
    ack = await person.call("agent-run-status", {"runId": run_id, "status": "x"})
    assert ack["ok"] is False
    ack = await other.call("agent-run-start", {"runId": run_id, "agencyId": scene.room_id})
    assert ack == {"ok": False, "error": "this runId is already taken"}
    ack = await other.call("agent-run-start", {"runId": unique(), "agencyId": scene.room_id,
                                               "agentId": scene.agent_id})
    assert ack == {"ok": False, "error": "agentId must be your own id"}
    assert [e["type"] for e in (await scene.run(run_id))["transcript"]] == ["start"]
    await other.close()
    await person.close()


async def test_a_reconnecting_watcher_fetches_what_it_missed(scene: Scene) -> None:
    run_id = await scene.start_run()
    await scene.emit("agent-run-status", run_id, status="one")
    await scene.watcher.wait_for("agent-run-status")
    last = scene.watcher.received("agent-run-status")[-1]["seq"]
    await scene.watcher.close()
    await scene.emit("agent-run-status", run_id, status="two")
    await scene.emit("agent-run-tool-call", run_id, toolCallId="t", tool="ls", input={})
    r = await scene.house.member.get(f"/api/runs/{run_id}/events", params={"after_seq": last})
    assert [(e["seq"], e["type"]) for e in r.json()] == [(last + 1, "status"),
                                                         (last + 2, "tool-call")]
    again = await scene.house.member.socket()
    await again.join(scene.room_id)
    ack = await again.call("agent-run-events", {"runId": run_id, "afterSeq": last + 1})
    assert [e["type"] for e in ack["events"]] == ["tool-call"] and ack["status"] == "running"
    await scene.emit("agent-run-status", run_id, status="three")
    live = await again.wait_for("agent-run-status")
    assert live[-1]["seq"] == last + 3  # continues right after what it fetched
    r = await scene.server.http().get(f"/api/runs/{run_id}/events")
    assert r.status_code == 401
    await again.close()


async def test_an_agent_that_leaves_ends_its_run_as_error_after_the_grace(scene: Scene
                                                                         ) -> None:
    runs = scene.server.shoal.runs
    grace = scene.server.shoal.settings.run_disconnect_grace_seconds
    run_id = await scene.start_run()
    await scene.agent.close()
    await gone(scene)
    await runs.sweep(utcnow() + timedelta(seconds=grace / 2))
    assert (await scene.run(run_id))["status"] == "running"
    back = await scene.server.socket(scene.agent_token)  # back within the grace
    await runs.sweep(utcnow() + timedelta(seconds=grace * 2))
    assert (await scene.run(run_id))["status"] == "running"
    await back.close()
    await gone(scene)
    await runs.sweep(utcnow() + timedelta(seconds=grace * 5))
    run = await scene.run(run_id)
    assert run["status"] == "error"
    assert run["error"] == "the agent disconnected and did not come back"
    errors = await scene.watcher.wait_for("agent-run-error")
    assert errors[-1]["runId"] == run_id


async def test_a_run_past_its_time_limit_times_out(scene: Scene) -> None:
    runs = scene.server.shoal.runs
    limit = scene.server.shoal.settings.run_time_limit_seconds
    run_id = await scene.start_run()
    await runs.sweep(utcnow() + timedelta(seconds=limit + 1))
    run = await scene.run(run_id)
    assert run["status"] == "timed_out" and run["transcript"][-1]["type"] == "error"
    ack = await scene.emit("agent-run-complete", run_id, summary="too late")
    assert ack == {"ok": False, "error": "this run has ended (timed_out)"}


async def test_traces_are_validated_and_kept(scene: Scene) -> None:
    room = f"/api/agencies/{scene.room_id}/messages"
    trace = [{"step": "get known-issues", "duration": "34ms", "status": "done"},
             {"step": "notes", "duration": "12ms", "status": "error"}]
    r = await scene.house.member.post(room, {"content": "report", "metadata": {
        "trace": trace, "duration": "415ms"}})
    assert r.status_code == 201 and r.json()["metadata"]["trace"] == trace
    for bad, error in [
        ({"trace": "fast"}, "metadata.trace must be a list of steps"),
        ({"trace": [{"step": "a", "duration": 34, "status": "done"}]}, "metadata.trace[0]"),
        ({"trace": [{"step": "a", "duration": "1ms", "status": "meh"}]}, "metadata.trace[0]"),
        ({"trace": [], "duration": 415}, "metadata.duration must be a string"),
    ]:
        r = await scene.house.member.post(room, {"content": "x", "metadata": bad})
        assert r.status_code == 400 and r.json()["error"].startswith(error), r.text
