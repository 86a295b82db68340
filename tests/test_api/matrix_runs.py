"""The permission matrix's rows for runs: an agent of the house runs in the public room."""

from __future__ import annotations

from shoal.store.tables import User
from tests.support import unique
from tests.test_api.matrix import (
    NA,
    Caller,
    Cell,
    Emit,
    Rest,
    World,
    authors_message,
    expect,
    needs,
    own_message,
    public_room,
)

ALL_REFUSED = expect(403, 403, 403, 403, 403)  # only the run's own agent adds to a run


async def _agent(w: World) -> User:
    """The house's runner bot, in the public room; made once per world."""
    if "runner" not in w.user_ids:
        r = await w.author.post("/api/agents", {"name": unique("runner"),
                                                "agencyId": w.house.room_id})
        assert r.status_code == 201, r.text
        w.user_ids["runner"] = r.json()["agent"]["id"]
    async with w.server.shoal.db.read() as session:
        user = await session.get(User, w.user_ids["runner"])
    assert user is not None
    return user


async def _run(w: World, trigger_id: str) -> str:
    run_id = unique("run")
    await w.server.shoal.runs.start(await _agent(w), w.house.room_id, run_id=run_id,
                                    trigger_message_id=trigger_id)
    await w.server.shoal.runs.gates.request(run_id, await _agent(w), "p", "deploy", "", 600)
    return run_id


async def authors_run(w: World, c: Caller) -> str:
    """A live run with a pending request `p`, triggered by the author."""
    return await _run(w, await authors_message(w, c))


async def callers_run(w: World, c: Caller) -> str:
    """A live run with a pending request `p`, triggered by the caller."""
    return await _run(w, await own_message(w, c))


async def permission(w: World, c: Caller) -> str:
    return "p"


async def new_run_id(w: World, c: Caller) -> str:
    return unique("run")


async def decided_only_if_allowed(cell: Cell) -> None:
    r = await cell.world.house.member.get(f"/api/runs/{cell.ids['run_id']}")
    decided = [e for e in r.json()["transcript"] if e["type"] == "permission-response"]
    assert bool(decided) == cell.allowed


async def interrupted_only_if_allowed(cell: Cell) -> None:
    r = await cell.world.house.member.get(f"/api/runs/{cell.ids['run_id']}")
    interrupts = [e for e in r.json()["transcript"] if e["type"] == "interrupt"]
    assert bool(interrupts) == cell.allowed


async def started_only_if_allowed(cell: Cell) -> None:
    r = await cell.world.house.member.get(f"/api/runs/{cell.ids['run_id']}")
    assert (r.status_code == 200) == cell.allowed


async def run_unchanged(cell: Cell) -> None:
    r = await cell.world.house.member.get(f"/api/runs/{cell.ids['run_id']}")
    assert [e["type"] for e in r.json()["transcript"]] == ["start", "permission-request"]


RUN = {"run_id": authors_run}
DECIDE = {"run_id": authors_run, "permission_id": permission}

REST_ROWS = [
    Rest("GET", "/api/runs/{run_id}", needs("guest"), ids=RUN),
    Rest("GET", "/api/runs/{run_id}/events", needs("guest"), ids=RUN),
    Rest("GET", "/api/agencies/{agency_id}/runs", needs("guest"),
         ids={"agency_id": public_room}),
    Rest("POST", "/api/runs/{run_id}/permissions/{permission_id}", expect(403, 403, 403, 403,
         404), "another's run", ids=DECIDE, body=lambda t: {"decision": "approve"},
         effect=decided_only_if_allowed),
    Rest("POST", "/api/runs/{run_id}/permissions/{permission_id}", expect(200, 200, 200, NA,
         NA), "own run", ids={"run_id": callers_run, "permission_id": permission},
         body=lambda t: {"decision": "deny"}, effect=decided_only_if_allowed),
    Rest("POST", "/api/runs/{run_id}/interrupt", needs("member"), ids=RUN,
         body=lambda t: {"action": "stop"}, effect=interrupted_only_if_allowed),
]


def _on_run(event: str, **fields: object) -> Emit:
    return Emit(event, ALL_REFUSED, "another's run", ids=RUN,
                payload=lambda t: {"runId": t["run_id"], **fields}, effect=run_unchanged)


SOCKET_ROWS = [
    Emit("agent-run-start", needs("member"), ids={"agency_id": public_room,
                                                  "run_id": new_run_id},
         payload=lambda t: {"runId": t["run_id"], "agencyId": t["agency_id"]},
         effect=started_only_if_allowed),
    _on_run("agent-run-status", status="mine"),
    _on_run("agent-run-tool-call", toolCallId="t", tool="ls", input={}),
    _on_run("agent-run-tool-result", toolCallId="t", tool="ls", output="", status="done"),
    _on_run("agent-run-stream", messageId="m", delta="hi", content="hi"),
    _on_run("agent-run-permission", permissionId="q", action="x", description=""),
    _on_run("agent-run-complete", summary="done"),
    _on_run("agent-run-error", error="oops"),
    _on_run("agent-run-record", note="hi"),
    Emit("agent-run-permission-decision", expect(403, 403, 403, 403, 404), "another's run",
         ids=DECIDE, payload=lambda t: {"runId": t["run_id"], "permissionId": "p",
                                        "decision": "approve"},
         effect=decided_only_if_allowed),
    Emit("agent-run-interrupt", needs("member"), ids=RUN,
         payload=lambda t: {"runId": t["run_id"], "action": "stop"},
         effect=interrupted_only_if_allowed),
    Emit("agent-run-events", needs("guest"), ids=RUN,
         payload=lambda t: {"runId": t["run_id"], "afterSeq": 0}),
]
