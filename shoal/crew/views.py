"""A crew as the API, the sockets and the commands show it."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from shoal.crew.roles import Role
from shoal.crew.tables import TASK_STATES, Crew, CrewActivity, CrewLock, CrewTask
from shoal.store.tables import HouseMember, iso

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from shoal.crew.status import CrewStatus


async def handles(session: AsyncSession, house_id: str, ids: Collection[str | None]
                  ) -> dict[str, str]:
    """The @handles of these members of the house, by id."""
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    rows = await session.execute(select(HouseMember.user_id, HouseMember.handle).where(
        HouseMember.house_id == house_id, HouseMember.user_id.in_(wanted)))
    return {user_id: f"@{handle}" for user_id, handle in rows.tuples()}


async def task_counts(session: AsyncSession, crew_id: str) -> dict[str, int]:
    """How many cards the board has in each state."""
    counts = dict.fromkeys(TASK_STATES, 0)
    rows = await session.execute(select(CrewTask.status, func.count()).where(
        CrewTask.crew_id == crew_id).group_by(CrewTask.status))
    for state, count in rows.tuples():
        counts[state] = count
    return counts


def crew_view(crew: Crew, status: CrewStatus, roles: Mapping[str, Role] | None = None,
              tasks: Mapping[str, int] | None = None) -> dict[str, Any]:
    """A crew with its members (status, current task, locks), its budget and its settings;
    `tasks`: the board's counts by state, when known."""
    roles = roles or {}
    lead = status.member(crew.lead_bot_id)
    members = []
    for member in status.members:
        role = roles.get(member.role)
        members.append({
            "agent_id": member.bot_id, "handle": f"@{member.handle}", "role": member.role,
            "status": member.status, "working_on": member.working_on,
            "locks": list(member.locks),
            "receives_updates": role.receives_updates if role else None,
            "sub_lead": role.sub_lead if role else None})
    view: dict[str, Any] = {
        "id": crew.id, "house_id": crew.house_id, "room_id": crew.room_id, "name": crew.name,
        "goal": crew.goal, "state": crew.state,
        "lead": {"agent_id": crew.lead_bot_id,
                 "handle": f"@{lead.handle}" if lead else None},
        "budget": {"agents": crew.agent_budget, "running": status.running,
                   "available": status.available},
        "refresh_seconds": crew.refresh_seconds, "lead_idle_seconds": crew.lead_idle_seconds,
        "heartbeat_halted": crew.heartbeat_halted,
        "unanswered_nudges": crew.unanswered_nudges,
        "lead_active_at": iso(crew.lead_active_at),
        "members": members,
        "locks": [{"resource": resource, "holder_id": m.bot_id, "holder": f"@{m.handle}"}
                  for m in status.members for resource in m.locks],
        "created_by": crew.created_by, "created_at": iso(crew.created_at),
        "updated_at": iso(crew.updated_at), "ended_at": iso(crew.ended_at),
        "ended_by": crew.ended_by,
    }
    if tasks is not None:
        view["tasks"] = dict(tasks)
    return view


def task_view(task: CrewTask, names: Mapping[str, str]) -> dict[str, Any]:
    """One card of the board."""
    return {
        "id": task.id, "crew_id": task.crew_id, "title": task.title,
        "description": task.description, "status": task.status,
        "assignee_id": task.assignee_id, "assignee": names.get(task.assignee_id or ""),
        "created_by": task.created_by, "created_at": iso(task.created_at),
        "updated_by": task.updated_by, "updated_by_handle": names.get(task.updated_by or ""),
        "updated_at": iso(task.updated_at),
    }


def lock_view(lock: CrewLock, names: Mapping[str, str]) -> dict[str, Any]:
    """One lock held."""
    return {"resource": lock.resource, "holder_id": lock.holder_id,
            "holder": names.get(lock.holder_id), "acquired_at": iso(lock.acquired_at)}


def activity_view(row: CrewActivity, names: Mapping[str, str]) -> dict[str, Any]:
    """One event of the feed."""
    return {"id": row.id, "crew_id": row.crew_id, "kind": row.kind, "actor_id": row.actor_id,
            "actor": names.get(row.actor_id or ""), "summary": row.summary,
            "data": row.data or {}, "at": iso(row.at)}
