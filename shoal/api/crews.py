"""Crews: a room's crews; one crew with its members, board, locks and feed; its tasks, reports,
locks, model allowlists (also as the seed's `/api/projects/{id}/model-config`) and the
activations of its members."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from shoal.api.deps import PrincipalDep, ShoalDep
from shoal.api.openapi import NOT_BLANK, errors
from shoal.crew.service import MAX_BUDGET, MAX_GOAL_CHARS
from shoal.crew.work import MAX_TEXT, MAX_TITLE
from shoal.errors import Conflict

router = APIRouter(prefix="/api", tags=["crews"])
TaskState = Literal["todo", "in_progress", "blocked", "done"]
Seconds = Field(None, ge=30, le=86_400)


class MemberBody(BaseModel):
    """An agent and its role in the crew."""

    model_config = ConfigDict(extra="forbid")

    agent: str = Field(min_length=1, max_length=100, pattern=NOT_BLANK,
                       description="the agent's @handle, username or id")
    role: str = Field(min_length=1, max_length=40, pattern=NOT_BLANK,
                      description="developer, architect, code-reviewer, secretary, or one of "
                                  "the house's crew_roles")


class CrewBody(BaseModel):
    """A new crew: its goal, its lead, maybe members and settings."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, protected_namespaces=())

    goal: str = Field(min_length=1, max_length=MAX_GOAL_CHARS, pattern=NOT_BLANK)
    lead: str = Field(min_length=1, max_length=100, pattern=NOT_BLANK,
                      description="the lead agent's @handle, username or id")
    name: str | None = Field(None, max_length=120)
    members: list[MemberBody] = Field(default_factory=list, max_length=100)
    agent_budget: int | None = Field(None, ge=1, le=MAX_BUDGET)
    refresh_seconds: int | None = Seconds
    lead_idle_seconds: int | None = Seconds
    model_config_: dict[str, list[str] | None] | None = Field(
        None, alias="model_config", description="{role: [model, ...]}: the crew's own "
                                                "allowlists over the house's crew_models")


class CrewChange(BaseModel):
    """What changes in a crew."""

    model_config = ConfigDict(extra="forbid")

    goal: str | None = Field(None, min_length=1, max_length=MAX_GOAL_CHARS, pattern=NOT_BLANK)
    name: str | None = Field(None, max_length=120)
    agent_budget: int | None = Field(None, ge=1, le=MAX_BUDGET)
    refresh_seconds: int | None = Seconds
    lead_idle_seconds: int | None = Seconds


class TaskBody(BaseModel):
    """A new card on the board."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=MAX_TITLE, pattern=NOT_BLANK)
    description: str | None = Field(None, max_length=MAX_TEXT)
    assignee: str | None = Field(None, max_length=100, description="a member's @handle")
    status: TaskState = "todo"


class TaskChange(BaseModel):
    """What changes on a card."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(None, min_length=1, max_length=MAX_TITLE, pattern=NOT_BLANK)
    description: str | None = Field(None, max_length=MAX_TEXT)
    assignee: str | None = Field(None, max_length=100,
                                 description="a member's @handle; empty unassigns")
    status: TaskState | None = None


class ReportBody(BaseModel):
    """A member's report to the lead."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["progress", "completion", "blocker", "error"]
    text: str = Field(min_length=1, max_length=MAX_TEXT, pattern=NOT_BLANK)


class LockBody(BaseModel):
    """A resource to lock."""

    model_config = ConfigDict(extra="forbid")

    resource: str = Field(min_length=1, max_length=300, pattern=NOT_BLANK)


class ModelConfigBody(BaseModel):
    """A crew's own model allowlists."""

    model_config = ConfigDict(extra="forbid")

    models: dict[str, list[str] | None] = Field(
        description="{role: [model, ...]}; a role left out (or null) takes the house's default")


@router.get("/agencies/{agency_id}/crews")
async def list_crews(agency_id: str, principal: PrincipalDep, shoal: ShoalDep,
                     state: Literal["active", "ended"] | None = None) -> list[dict[str, Any]]:
    """A room's crews, newest first (anyone who may read the room)."""
    return await shoal.crews.list_room(agency_id, principal.id, state)


@router.post("/agencies/{agency_id}/crews", status_code=201, responses=errors(409))
async def start_crew(agency_id: str, body: CrewBody, principal: PrincipalDep, shoal: ShoalDep
                     ) -> dict[str, Any]:
    """Start a crew in the room (anyone who may post there); the lead is told the goal."""
    raw = body.model_dump(exclude_none=True, by_alias=True)
    return await shoal.crews.start(principal.user, agency_id, raw)


@router.get("/crews/{crew_id}")
async def get_crew(crew_id: str, principal: PrincipalDep, shoal: ShoalDep) -> dict[str, Any]:
    """A crew with its members, board, locks and newest events."""
    return await shoal.crews.view(crew_id, principal.id)


@router.patch("/crews/{crew_id}", responses=errors(409))
async def change_crew(crew_id: str, body: CrewChange, principal: PrincipalDep,
                      shoal: ShoalDep) -> dict[str, Any]:
    """Change a crew's goal or settings: the one who started it, or a house admin."""
    return await shoal.crews.change(crew_id, principal.user, body.model_dump(exclude_unset=True))


@router.post("/crews/{crew_id}/end", responses=errors(409))
async def end_crew(crew_id: str, principal: PrincipalDep, shoal: ShoalDep) -> dict[str, Any]:
    """End a crew (its record stays): the one who started it, or a house admin."""
    return await shoal.crews.end(crew_id, principal.user)


@router.post("/crews/{crew_id}/members", status_code=201, responses=errors(409))
async def add_member(crew_id: str, body: MemberBody, principal: PrincipalDep,
                     shoal: ShoalDep) -> dict[str, Any]:
    """Add an agent with a role: the crew's starter, a house admin, its lead or sub-leads."""
    return await shoal.crews.add_member(crew_id, principal.user, body.agent, body.role)


@router.delete("/crews/{crew_id}/members/{agent}", responses=errors(409))
async def remove_member(crew_id: str, agent: str, principal: PrincipalDep, shoal: ShoalDep
                        ) -> dict[str, Any]:
    """Take an agent out of the crew (its locks go): its starter, a house admin, its lead."""
    return await shoal.crews.remove_member(crew_id, principal.user, agent)


@router.get("/crews/{crew_id}/tasks")
async def list_tasks(crew_id: str, principal: PrincipalDep, shoal: ShoalDep,
                     status: TaskState | None = None,
                     assignee: str | None = Query(None, max_length=100)
                     ) -> list[dict[str, Any]]:
    """The board, oldest card first."""
    return await shoal.crew_work.tasks(crew_id, principal.id, status=status, assignee=assignee)


@router.post("/crews/{crew_id}/tasks", status_code=201, responses=errors(409))
async def create_task(crew_id: str, body: TaskBody, principal: PrincipalDep, shoal: ShoalDep
                      ) -> dict[str, Any]:
    """Put a card on the board: people who may post in the room, and member agents."""
    return await shoal.crew_work.create_task(crew_id, principal.user,
                                             body.model_dump(exclude_none=True))


@router.patch("/crews/{crew_id}/tasks/{task_id}", responses=errors(409))
async def update_task(crew_id: str, task_id: str, body: TaskChange, principal: PrincipalDep,
                      shoal: ShoalDep) -> dict[str, Any]:
    """Change a card (members other than leads: their own and unassigned cards)."""
    return await shoal.crew_work.update_task(crew_id, task_id, principal.user,
                                             body.model_dump(exclude_unset=True))


@router.post("/crews/{crew_id}/reports", status_code=201, responses=errors(409))
async def report(crew_id: str, body: ReportBody, principal: PrincipalDep, shoal: ShoalDep
                 ) -> dict[str, Any]:
    """A member agent reports to the lead (as crew_report does)."""
    return await shoal.crew_work.report(crew_id, principal.user, body.kind, body.text)


@router.get("/crews/{crew_id}/locks")
async def list_locks(crew_id: str, principal: PrincipalDep, shoal: ShoalDep
                     ) -> list[dict[str, Any]]:
    """The locks held now."""
    return await shoal.crew_work.locks(crew_id, principal.id)


@router.post("/crews/{crew_id}/locks", status_code=201, responses=errors(409))
async def take_lock(crew_id: str, body: LockBody, principal: PrincipalDep, shoal: ShoalDep
                    ) -> dict[str, Any]:
    """A member agent locks a resource; 409 names the holder (the attempt is recorded)."""
    answer = await shoal.crew_work.lock(crew_id, principal.user, body.resource)
    if not answer.acquired:
        raise Conflict(f"{answer.resource} is locked by {answer.holder}")
    return {"resource": answer.resource, "holder": answer.holder}


@router.delete("/crews/{crew_id}/locks/{resource:path}", responses=errors(409))
async def release_lock(crew_id: str, resource: str, principal: PrincipalDep, shoal: ShoalDep
                       ) -> dict[str, Any]:
    """Release a lock (the resource as it was locked, slashes and all): its holder, the
    crew's starter, or a house admin."""
    return await shoal.crew_work.unlock(crew_id, principal.user, resource)


@router.get("/crews/{crew_id}/activity")
async def crew_feed(crew_id: str, principal: PrincipalDep, shoal: ShoalDep,
                    kind: list[str] | None = Query(None, max_length=30),
                    before: str | None = Query(None, max_length=36),
                    limit: int = Query(50, ge=1, le=200)) -> list[dict[str, Any]]:
    """The crew's feed, newest first (`before`: an event id, to page back; `kind` repeats)."""
    return await shoal.crew_work.feed(crew_id, principal.id, kinds=kind, before=before,
                                      limit=limit)


@router.get("/crews/{crew_id}/activations")
async def crew_activations(crew_id: str, principal: PrincipalDep, shoal: ShoalDep,
                           limit: int = Query(50, ge=1, le=200)) -> list[dict[str, Any]]:
    """The activations of the crew's members as members, newest first."""
    return await shoal.crew_activations.list(crew_id, principal.id, limit)


@router.get("/crews/{crew_id}/model-config")
async def get_model_config(crew_id: str, principal: PrincipalDep, shoal: ShoalDep
                           ) -> dict[str, Any]:
    """The crew's model allowlists per role: its own, the house's defaults, the result."""
    return await shoal.crews.model_config(crew_id, principal.id)


@router.put("/crews/{crew_id}/model-config", responses=errors(409))
async def put_model_config(crew_id: str, body: ModelConfigBody, principal: PrincipalDep,
                           shoal: ShoalDep) -> dict[str, Any]:
    """Replace the crew's own allowlists: house owners and admins."""
    return await shoal.crews.set_model_config(crew_id, principal.user, body.model_dump())


@router.get("/projects/{crew_id}/model-config")
async def get_project_model_config(crew_id: str, principal: PrincipalDep, shoal: ShoalDep
                                   ) -> dict[str, Any]:
    """The seed's name for a crew's model allowlists (a project is a crew)."""
    return await shoal.crews.model_config(crew_id, principal.id)


@router.put("/projects/{crew_id}/model-config", responses=errors(409))
async def put_project_model_config(crew_id: str, body: ModelConfigBody,
                                   principal: PrincipalDep, shoal: ShoalDep
                                   ) -> dict[str, Any]:
    """The seed's name for replacing a crew's model allowlists."""
    return await shoal.crews.set_model_config(crew_id, principal.user, body.model_dump())
