"""Sub-agents: a room's children, one with its transcript, kill, and spawn for an agent."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from shoal.api.deps import PrincipalDep, ShoalDep
from shoal.api.openapi import errors
from shoal.subagents.lifecycle import MAX_TASK_CHARS, MAX_TIMEOUT_SECONDS
from shoal.subagents.tables import STATES

router = APIRouter(prefix="/api", tags=["subagents"])
State = Literal["pending", "running", "completed", "failed", "timed_out", "killed"]
assert set(State.__args__) == set(STATES)  # type: ignore[attr-defined]


class SpawnBody(BaseModel):
    """What an agent asks a child to do."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    room_id: str = Field(alias="roomId", max_length=36)
    task: str = Field(min_length=1, max_length=MAX_TASK_CHARS)
    label: str | None = Field(None, max_length=200)
    agent_id: str | None = Field(None, alias="agentId", max_length=64)
    model: str | None = Field(None, max_length=200)
    run_timeout_seconds: int | None = Field(None, ge=1, le=MAX_TIMEOUT_SECONDS)
    cleanup: Literal["delete", "keep"] = "keep"
    announce: Literal["parent", "room", "none"] = "none"


@router.get("/subagents", responses=errors(404))
async def list_subagents(principal: PrincipalDep, shoal: ShoalDep,
                         room_id: str = Query(alias="roomId", max_length=36),
                         state: State | None = None, archived: bool = False
                         ) -> list[dict[str, Any]]:
    """A room's sub-agents, newest first (archived ones with `archived=true`)."""
    return await shoal.subagents.list_room(room_id, principal.id, state=state,
                                           archived=archived)


@router.get("/subagents/{sub_id}")
async def get_subagent(sub_id: str, principal: PrincipalDep, shoal: ShoalDep
                       ) -> dict[str, Any]:
    """One sub-agent with its transcript (its run's events, tool turns, final answer)."""
    sub = await shoal.subagents.get(sub_id, principal.id)
    return await shoal.subagents.view(sub, transcript=True)


@router.post("/subagents/{sub_id}/kill", responses=errors(400, 403))
async def kill_subagent(sub_id: str, principal: PrincipalDep, shoal: ShoalDep
                        ) -> dict[str, Any]:
    """Kill a live sub-agent: its parent agent, the parent's owner, the person who asked
    for the parent's work, or a house admin."""
    sub = await shoal.subagents.kill(sub_id, principal.user)
    return await shoal.subagents.view(sub)


@router.post("/subagents", status_code=201, responses=errors(400, 403, 404, 409))
async def spawn_subagent(body: SpawnBody, principal: PrincipalDep, shoal: ShoalDep
                         ) -> dict[str, Any]:
    """An agent (with its own token) spawns a builtin child in a room it may post in."""
    raw = body.model_dump(by_alias=True, exclude_none=True)
    sub = await shoal.subagents.spawn_from_agent(principal.user, body.room_id, raw)
    return await shoal.subagents.view(sub)
