"""Runs: a run with its transcript, a room's runs, events after a seq, decisions, interrupts."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from shoal.api.deps import PrincipalDep, ShoalDep
from shoal.api.openapi import errors
from shoal.rooms.access import Action, authorize_room
from shoal.runs.service import MAX_EVENTS
from shoal.runs.tables import Run
from shoal.runs.views import run_summary, run_view
from shoal.store.tables import MAX_INTEGER, User

router = APIRouter(prefix="/api", tags=["runs"])


class DecisionBody(BaseModel):
    decision: Literal["approve", "deny"]
    message: str | None = Field(None, max_length=2000)


class InterruptBody(BaseModel):
    action: Literal["stop", "adjust"]
    message: str | None = Field(None, max_length=2000)


@router.get("/runs/{run_id}")
async def get_run(run_id: str, principal: PrincipalDep, shoal: ShoalDep) -> dict[str, Any]:
    """The run, its status and its whole transcript, for anyone who may read its room."""
    async with shoal.db.read() as session:
        await shoal.runs.get(session, run_id, principal.id)
    await shoal.runs.gates.expire(run_id=run_id)  # a timer lost with its process
    async with shoal.db.read() as session:
        run = await shoal.runs.get(session, run_id, principal.id)
        agent = await session.get(User, run.agent_id)
        events = await shoal.runs.events_after(session, run_id, 0, limit=MAX_INTEGER)
    return run_view(run, agent, events)


@router.get("/runs/{run_id}/events")
async def run_events(
    run_id: str, principal: PrincipalDep, shoal: ShoalDep,
    after_seq: int = Query(0, ge=0, le=MAX_INTEGER),
    limit: int = Query(MAX_EVENTS, ge=1, le=MAX_EVENTS),
) -> list[dict[str, Any]]:
    """Transcript entries after a seq, oldest first: what a reconnecting watcher missed."""
    async with shoal.db.read() as session:
        run = await shoal.runs.get(session, run_id, principal.id)
        return await shoal.runs.events_after(session, run.id, after_seq, limit)


@router.post("/runs/{run_id}/permissions/{permission_id}", responses=errors(409))
async def decide_permission(run_id: str, permission_id: str, body: DecisionBody,
                            principal: PrincipalDep, shoal: ShoalDep) -> dict[str, Any]:
    """Approve or deny a pending request of the run (its initiator, or admins if allowed)."""
    return await shoal.runs.gates.decide(run_id, permission_id, principal.user,
                                         body.decision, body.message)


@router.post("/runs/{run_id}/interrupt", responses=errors(409))
async def interrupt_run(run_id: str, body: InterruptBody, principal: PrincipalDep,
                        shoal: ShoalDep) -> dict[str, Any]:
    """Stop the run, or adjust it with a message (anyone who may post in its room)."""
    return await shoal.runs.interrupt(run_id, principal.user, body.action, body.message)


@router.get("/agencies/{agency_id}/runs")
async def agency_runs(
    agency_id: str, principal: PrincipalDep, shoal: ShoalDep,
    limit: int = Query(50, ge=1, le=100), offset: int = Query(0, ge=0, le=MAX_INTEGER),
) -> list[dict[str, Any]]:
    """The room's runs, newest first."""
    async with shoal.db.read() as session:
        await authorize_room(session, principal.id, agency_id, Action.READ)
        rows = await session.execute(
            select(Run, User).outerjoin(User, User.id == Run.agent_id)
            .where(Run.room_id == agency_id)
            .order_by(Run.started_at.desc(), Run.id.desc()).limit(limit).offset(offset))
        return [run_summary(run, agent) for run, agent in rows.tuples()]
