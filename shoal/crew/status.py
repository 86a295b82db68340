"""What a crew looks like now: each member's status, current task and locks, and the running
agents against the budget. CREW_UPDATE, the REST views and the heartbeat all read this."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.crew.tables import Crew, CrewLock, CrewMember, CrewTask
from shoal.store.tables import Activation, HouseMember

LIVE_ACTIVATIONS = ("pending", "running")


@dataclass(frozen=True)
class MemberStatus:
    """One member as the crew sees it. `status` is `running` while the agent has work
    pending or running in the crew's room, `idle` otherwise, `left` after it left."""

    bot_id: str
    handle: str
    role: str
    status: str
    working_on: str | None
    locks: tuple[str, ...]


@dataclass(frozen=True)
class CrewStatus:
    """A crew's members (in joining order, those who left last) and its budget."""

    crew: Crew
    members: tuple[MemberStatus, ...]

    @property
    def running(self) -> int:
        """Members with work pending or running."""
        return sum(member.status == "running" for member in self.members)

    @property
    def available(self) -> int:
        """Agents the budget still admits."""
        return max(0, self.crew.agent_budget - self.running)

    def member(self, bot_id: str) -> MemberStatus | None:
        """One member by its bot id."""
        return next((m for m in self.members if m.bot_id == bot_id), None)


async def crew_status(session: AsyncSession, crew: Crew) -> CrewStatus:
    """Read a crew's status in four indexed queries, whatever its size."""
    rows = (await session.execute(
        select(CrewMember, HouseMember.handle)
        .outerjoin(HouseMember, (HouseMember.user_id == CrewMember.bot_id)
                   & (HouseMember.house_id == crew.house_id))
        .where(CrewMember.crew_id == crew.id)
        .order_by(CrewMember.left_at.is_not(None), CrewMember.joined_at))).tuples().all()
    bot_ids = [member.bot_id for member, _ in rows]
    busy = set((await session.scalars(
        select(Activation.bot_id).where(Activation.room_id == crew.room_id,
                                        Activation.bot_id.in_(bot_ids),
                                        Activation.status.in_(LIVE_ACTIVATIONS))
        .distinct())).all()) if bot_ids and crew.state == "active" else set()
    working: dict[str, str] = {}
    for assignee, title in (await session.execute(
            select(CrewTask.assignee_id, CrewTask.title)
            .where(CrewTask.crew_id == crew.id, CrewTask.status == "in_progress")
            .order_by(CrewTask.updated_at.desc()))).tuples():
        if assignee is not None:
            working.setdefault(assignee, title)
    locks: dict[str, list[str]] = {}
    for holder, resource in (await session.execute(
            select(CrewLock.holder_id, CrewLock.resource).where(CrewLock.crew_id == crew.id)
            .order_by(CrewLock.resource))).tuples():
        locks.setdefault(holder, []).append(resource)
    members = tuple(
        MemberStatus(
            bot_id=member.bot_id, handle=handle or member.bot_id, role=member.role,
            status=("left" if member.left_at is not None
                    else "running" if member.bot_id in busy else "idle"),
            working_on=working.get(member.bot_id),
            locks=tuple(locks.get(member.bot_id, ())))
        for member, handle in rows)
    return CrewStatus(crew, members)


async def crews_due(session: AsyncSession, target_ids: list[str]) -> dict[str, Crew]:
    """The crews a scheduler claim names (its rows' target ids), by id; a deleted one is
    missing."""
    return {c.id: c for c in await session.scalars(select(Crew).where(Crew.id.in_(target_ids)))}
