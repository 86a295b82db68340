"""The permission matrix's rows for crews: the author started a crew in the public room (made
fresh per call), led by the house's runner bot; among members only the author changes it,
house admins and owners may too, guests read it."""

from __future__ import annotations

from shoal.crew.tables import Crew, CrewLock, CrewMember, CrewTask
from shoal.store.tables import User
from tests.support import unique
from tests.test_api.matrix import Caller, Rest, World, expect, needs, new_room, public_room
from tests.test_api.matrix_runs import _agent

MANAGERS = expect(200, 200, 403, 403, 404)  # the starter (a member) is not a principal
AGENTS_ONLY = expect(403, 403, 403, 403, 404)  # people are told only agents do it


async def _helper(w: World, name: str = "crew-helper") -> User:
    """Another bot of the house, in the public room; made once per world and name."""
    if name not in w.user_ids:
        r = await w.author.post("/api/agents", {"name": unique(name),
                                                "agencyId": w.house.room_id})
        assert r.status_code == 201, r.text
        w.user_ids[name] = r.json()["agent"]["id"]
    async with w.server.shoal.db.read() as session:
        user = await session.get(User, w.user_ids[name])
    assert user is not None
    return user


async def crew(w: World, c: Caller) -> str:
    """A fresh crew in the public room, started by the author, led by the runner bot, with
    the helper bot as a developer holding a lock; remembered for the caller's next target."""
    lead, helper = await _agent(w), await _helper(w)
    async with w.server.shoal.db.write() as session:
        row = Crew(house_id=w.house.id, room_id=w.house.room_id, goal="the matrix",
                   lead_bot_id=lead.id, created_by=w.author.id, model_config={})
        session.add(row)
        await session.flush()
        session.add_all([CrewMember(crew_id=row.id, bot_id=lead.id, role="lead"),
                         CrewMember(crew_id=row.id, bot_id=helper.id, role="developer"),
                         CrewLock(crew_id=row.id, resource="src/app.py", holder_id=helper.id)])
    w.user_ids[f"crew:{c.name}"] = row.id
    return row.id


async def task(w: World, c: Caller) -> str:
    """A card on the board of the crew made just before for this caller."""
    async with w.server.shoal.db.write() as session:
        row = CrewTask(crew_id=w.user_ids[f"crew:{c.name}"], title="matrix task")
        session.add(row)
        await session.flush()
        return row.id


async def lead_handle(w: World, c: Caller) -> str:
    return (await _agent(w)).username


async def helper_handle(w: World, c: Caller) -> str:
    return (await _helper(w)).username


async def newcomer_handle(w: World, c: Caller) -> str:
    return (await _helper(w, "crew-newcomer")).username


async def held_resource(w: World, c: Caller) -> str:
    return "src/app.py"


CREW = {"crew_id": crew}
MODELS = {"models": {"developer": ["*"]}}

REST_ROWS = [
    Rest("GET", "/api/agencies/{agency_id}/crews", needs("guest"),
         ids={"agency_id": public_room}),
    Rest("POST", "/api/agencies/{agency_id}/crews", needs("member", 201), "a fresh room",
         ids={"agency_id": new_room, "lead": lead_handle},
         body=lambda t: {"goal": "the matrix", "lead": t["lead"]}),
    Rest("GET", "/api/crews/{crew_id}", needs("guest"), ids=CREW),
    Rest("PATCH", "/api/crews/{crew_id}", MANAGERS, ids=CREW, body=lambda t: {"goal": "new"}),
    Rest("POST", "/api/crews/{crew_id}/end", MANAGERS, ids=CREW),
    Rest("POST", "/api/crews/{crew_id}/members", expect(201, 201, 403, 403, 404),
         ids={**CREW, "agent": newcomer_handle},
         body=lambda t: {"agent": t["agent"], "role": "architect"}),
    Rest("DELETE", "/api/crews/{crew_id}/members/{agent}", MANAGERS,
         ids={**CREW, "agent": helper_handle}),
    Rest("GET", "/api/crews/{crew_id}/tasks", needs("guest"), ids=CREW),
    Rest("POST", "/api/crews/{crew_id}/tasks", needs("member", 201), ids=CREW,
         body=lambda t: {"title": "from the matrix"}),
    Rest("PATCH", "/api/crews/{crew_id}/tasks/{task_id}", needs("member"),
         ids={**CREW, "task_id": task}, body=lambda t: {"status": "done"}),
    Rest("POST", "/api/crews/{crew_id}/reports", AGENTS_ONLY, ids=CREW,
         body=lambda t: {"kind": "progress", "text": "half way"}),
    Rest("GET", "/api/crews/{crew_id}/locks", needs("guest"), ids=CREW),
    Rest("POST", "/api/crews/{crew_id}/locks", AGENTS_ONLY, ids=CREW,
         body=lambda t: {"resource": "src/other.py"}),
    Rest("DELETE", "/api/crews/{crew_id}/locks/{resource}", MANAGERS, "another's lock",
         ids={**CREW, "resource": held_resource}),
    Rest("GET", "/api/crews/{crew_id}/activity", needs("guest"), ids=CREW),
    Rest("GET", "/api/crews/{crew_id}/activations", needs("guest"), ids=CREW),
    Rest("GET", "/api/crews/{crew_id}/model-config", needs("guest"), ids=CREW),
    Rest("PUT", "/api/crews/{crew_id}/model-config", needs("admin"), ids=CREW,
         body=lambda t: MODELS),
    Rest("GET", "/api/projects/{crew_id}/model-config", needs("guest"), ids=CREW),
    Rest("PUT", "/api/projects/{crew_id}/model-config", needs("admin"), ids=CREW,
         body=lambda t: MODELS),
]
SOCKET_ROWS: list[object] = []
