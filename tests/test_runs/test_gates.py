"""Permission gates and interrupts: who decides, what the agent hears, what is recorded."""

from __future__ import annotations

from tests.test_runs.conftest import Scene, add_agent


async def ask(scene: Scene, run_id: str, permission_id: str, **extra: object) -> None:
    ack = await scene.emit("agent-run-permission", run_id, permissionId=permission_id,
                           action="deploy", description="push to prod", **extra)
    assert ack["ok"], ack


def responses(scene: Scene, permission_id: str) -> list[dict]:
    return [e for e in scene.agent.received("agent-run-permission-response")
            if e["permissionId"] == permission_id]


async def test_approve_and_deny_reach_the_agent_independently(scene: Scene) -> None:
    run_id = await scene.start_run()
    await ask(scene, run_id, "p1")
    await ask(scene, run_id, "p2")
    assert (await scene.run(run_id))["status"] == "waiting_permission"
    shown = await scene.watcher.wait_for("agent-run-permission", 2)
    assert {p["permissionId"] for p in shown} == {"p1", "p2"}
    r = await scene.house.member.post(f"/api/runs/{run_id}/permissions/p2",
                                      {"decision": "deny", "message": "not today"})
    assert r.status_code == 200, r.text
    await scene.agent.wait_for("agent-run-permission-response")
    assert (await scene.run(run_id))["status"] == "waiting_permission"  # p1 still pending
    sock = await scene.house.member.socket()
    ack = await sock.call("agent-run-permission-decision",
                          {"runId": run_id, "permissionId": "p1", "decision": "approve"})
    assert ack["ok"], ack
    await scene.agent.wait_for("agent-run-permission-response", 2)
    assert [(e["decision"], e.get("message")) for e in responses(scene, "p2")] == [
        ("deny", "not today")]
    assert [e["decision"] for e in responses(scene, "p1")] == ["approve"]
    run = await scene.run(run_id)
    assert run["status"] == "running"
    decided = [e for e in run["transcript"] if e["type"] == "permission-response"]
    assert [(e["permissionId"], e["decidedBy"]["id"]) for e in decided] == [
        ("p2", scene.house.member.id), ("p1", scene.house.member.id)]
    r = await scene.house.member.post(f"/api/runs/{run_id}/permissions/p1",
                                      {"decision": "deny"})
    assert r.status_code == 409
    await sock.close()


async def test_an_unanswered_request_is_a_deny(scene: Scene) -> None:
    run_id = await scene.start_run()
    await ask(scene, run_id, "slow", timeout=0.2)
    (event,) = await scene.agent.wait_for("agent-run-permission-response")
    assert event["decision"] == "deny" and event["timedOut"] is True
    run = await scene.run(run_id)
    assert run["status"] == "running"
    assert run["transcript"][-1]["decidedBy"] is None


async def test_only_the_initiator_decides_unless_the_house_allows_admins(scene: Scene
                                                                         ) -> None:
    run_id = await scene.start_run()
    await ask(scene, run_id, "p")
    url = f"/api/runs/{run_id}/permissions/p"
    for person in (scene.house.owner, scene.house.admin, scene.house.guest):
        r = await person.post(url, {"decision": "approve"})
        assert r.status_code == 403, r.text
    outsider = await scene.server.register()
    assert (await outsider.post(url, {"decision": "approve"})).status_code == 404
    ack = await scene.agent.call("agent-run-permission-decision",
                                 {"runId": run_id, "permissionId": "p", "decision": "approve"})
    assert ack == {"ok": False, "error": "bots may not decide permission requests"}
    _, token = await add_agent(scene.server, scene.house.owner, scene.room_id)
    bot = await scene.server.socket(token)
    ack = await bot.call("agent-run-permission-decision",
                         {"runId": run_id, "permissionId": "p", "decision": "approve"})
    assert ack["ok"] is False
    await bot.close()
    r = await scene.house.owner.patch(f"/api/houses/{scene.house.id}/settings",
                                      {"run_permission_deciders": "initiator_or_admins"})
    assert r.status_code == 200, r.text
    assert (await scene.house.guest.post(url, {"decision": "approve"})).status_code == 403
    r = await scene.house.admin.post(url, {"decision": "approve"})
    assert r.status_code == 200, r.text
    (event,) = await scene.agent.wait_for("agent-run-permission-response")
    assert event["decidedBy"]["id"] == scene.house.admin.id


async def test_stop_and_adjust_reach_the_agent(scene: Scene) -> None:
    run_id = await scene.start_run()
    r = await scene.house.guest.post(f"/api/runs/{run_id}/interrupt", {"action": "stop"})
    assert r.status_code == 403  # guests may not post, so may not interrupt
    r = await scene.house.admin.post(f"/api/runs/{run_id}/interrupt",
                                     {"action": "adjust", "message": "use staging"})
    assert r.status_code == 200, r.text
    sock = await scene.house.member.socket()
    ack = await sock.call("agent-run-interrupt", {"runId": run_id, "action": "stop"})
    assert ack["ok"], ack
    got = await scene.agent.wait_for("agent-run-interrupt", 2)
    assert [(e["action"], e.get("message")) for e in got] == [("adjust", "use staging"),
                                                              ("stop", None)]
    ack = await scene.agent.call("agent-run-interrupt", {"runId": run_id, "action": "stop"})
    assert ack == {"ok": False, "error": "an agent may not interrupt its own run"}
    ack = await scene.emit("agent-run-complete", run_id, summary="stopped early")
    assert ack["status"] == "interrupted"
    run = await scene.run(run_id)
    kinds = [(e["type"], e.get("action")) for e in run["transcript"]]
    assert kinds == [("start", None), ("interrupt", "adjust"), ("interrupt", "stop"),
                     ("complete", None)]
    assert run["status"] == "interrupted"
    await sock.close()
