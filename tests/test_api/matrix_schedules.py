"""The permission matrix's rows for heartbeats and cron jobs: house admins and owners only."""

from __future__ import annotations

from tests.test_api.matrix import (
    Caller,
    Cell,
    Rest,
    World,
    authors_bot,
    house_id,
    needs,
    public_room,
)


async def _bot_of_room(w: World, c: Caller) -> str:
    return await authors_bot(w, c)


async def authors_heartbeat(w: World, c: Caller) -> str:
    """A heartbeat an admin set for a fresh bot in the public room."""
    r = await w.house.admin.post(f"/api/agencies/{w.house.room_id}/heartbeats",
                                 {"agent": await authors_bot(w, c), "interval": "1h"})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def authors_cron_job(w: World, c: Caller) -> str:
    """A daily cron job an admin set for a fresh bot in the public room."""
    r = await w.house.admin.post(f"/api/agencies/{w.house.room_id}/cron-jobs",
                                 {"agent": await authors_bot(w, c), "cron": "0 9 * * *",
                                  "prompt": "digest"})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _house_lists(cell: Cell, what: str, key: str) -> list[str]:
    r = await cell.world.house.owner.get(f"/api/houses/{cell.world.house.id}/{what}")
    assert r.status_code == 200, r.text
    return [item[key] for item in r.json()]


async def heartbeat_set_only_if_allowed(cell: Cell) -> None:
    agents = await _house_lists(cell, "heartbeats", "agentId")
    assert (cell.ids["agent"] in agents) == cell.allowed


async def heartbeat_off_only_if_allowed(cell: Cell) -> None:
    r = await cell.world.house.owner.get(f"/api/houses/{cell.world.house.id}/heartbeats")
    [beat] = [b for b in r.json() if b["id"] == cell.ids["heartbeat_id"]]
    assert beat["enabled"] != cell.allowed


async def heartbeat_gone_only_if_allowed(cell: Cell) -> None:
    ids = await _house_lists(cell, "heartbeats", "id")
    assert (cell.ids["heartbeat_id"] not in ids) == cell.allowed


async def job_added_only_if_allowed(cell: Cell) -> None:
    agents = await _house_lists(cell, "cron-jobs", "agentId")
    assert (cell.ids["agent"] in agents) == cell.allowed


async def job_off_only_if_allowed(cell: Cell) -> None:
    r = await cell.world.house.owner.get(f"/api/houses/{cell.world.house.id}/cron-jobs")
    [job] = [j for j in r.json() if j["id"] == cell.ids["job_id"]]
    assert job["enabled"] != cell.allowed


async def job_gone_only_if_allowed(cell: Cell) -> None:
    ids = await _house_lists(cell, "cron-jobs", "id")
    assert (cell.ids["job_id"] not in ids) == cell.allowed


ROOM_AND_BOT = {"agency_id": public_room, "agent": _bot_of_room}
BEAT = {"heartbeat_id": authors_heartbeat}
JOB = {"job_id": authors_cron_job}

REST_ROWS = [
    Rest("GET", "/api/houses/{house_id}/heartbeats", needs("admin"), ids={"house_id": house_id}),
    Rest("POST", "/api/agencies/{agency_id}/heartbeats", needs("admin", 201), ids=ROOM_AND_BOT,
         body=lambda t: {"agent": t["agent"], "interval": "30m"},
         effect=heartbeat_set_only_if_allowed),
    Rest("PATCH", "/api/heartbeats/{heartbeat_id}", needs("admin"), ids=BEAT,
         body=lambda t: {"enabled": False}, effect=heartbeat_off_only_if_allowed),
    Rest("DELETE", "/api/heartbeats/{heartbeat_id}", needs("admin"), ids=BEAT,
         effect=heartbeat_gone_only_if_allowed),
    Rest("GET", "/api/houses/{house_id}/cron-jobs", needs("admin"), ids={"house_id": house_id}),
    Rest("POST", "/api/agencies/{agency_id}/cron-jobs", needs("admin", 201), ids=ROOM_AND_BOT,
         body=lambda t: {"agent": t["agent"], "every": "1h", "prompt": "check"},
         effect=job_added_only_if_allowed),
    Rest("PATCH", "/api/cron-jobs/{job_id}", needs("admin"), ids=JOB,
         body=lambda t: {"enabled": False}, effect=job_off_only_if_allowed),
    Rest("DELETE", "/api/cron-jobs/{job_id}", needs("admin"), ids=JOB,
         effect=job_gone_only_if_allowed),
    Rest("POST", "/api/cron-jobs/{job_id}/run", needs("admin", 202), ids=JOB),
]
