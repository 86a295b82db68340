"""CREW_UPDATE: the block that tells a crew's receivers who is doing what. Its layout is the
seed's, markers and all: the crew's status (each agent with its handle, role, status, task and
locks), the agent budget, and the recent activity, filtered per receiving role."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.crew.roles import role_title
from shoal.crew.status import CrewStatus, MemberStatus
from shoal.crew.tables import CrewActivity
from shoal.store.tables import HouseMember

OPEN_MARKER = "⟦⟦ CREW_UPDATE"
CLOSE_MARKER = "CREW_UPDATE ⟧⟧"
RECENT_LINES = 20  # the newest activity lines a block shows
SECRETARY = "secretary"

# The seed's filter table. Every receiver sees edits and commits, messages to the lead,
# completion (and error) reports, agents' lifecycle (status changes, joining, leaving), errors,
# and a changed goal. Inter-agent DMs and group messages are private coordination: never shown.
# Locks acquired are too frequent for the crew and denied ones are the secretary's to watch:
# both only for the secretary. The rest (the board's task changes, nudges) is left out: the
# status section shows what each agent works on.
SHOWN_TO_EVERY_RECEIVER = frozenset({
    "file_edit", "message_to_lead", "report", "status_change", "member_joined", "member_left",
    "error", "goal_changed"})
SHOWN_TO_SECRETARY_ONLY = frozenset({"lock_acquired", "lock_denied"})
REPORTS_SHOWN = frozenset({"completion", "error"})  # progress and blockers go to the lead


def shown_kinds(role: str) -> frozenset[str]:
    """The activity kinds a receiver in this role may see in RECENT ACTIVITY."""
    if role == SECRETARY:
        return SHOWN_TO_EVERY_RECEIVER | SHOWN_TO_SECRETARY_ONLY
    return SHOWN_TO_EVERY_RECEIVER


def is_shown(activity: CrewActivity, role: str) -> bool:
    """Whether one activity reaches a receiver in this role."""
    if activity.kind not in shown_kinds(role):
        return False
    return activity.kind != "report" or (activity.data or {}).get("kind") in REPORTS_SHOWN


def stamp(at: datetime) -> str:
    """An activity's time as the block writes it (UTC, to the second)."""
    return at.strftime("%Y-%m-%d %H:%M:%S")


def status_line(member: MemberStatus) -> str:
    """One agent in CURRENT CREW STATUS."""
    locks = ", ".join(member.locks) or "none"
    return (f"- Agent {member.handle} ({role_title(member.role)}) — Status: {member.status}, "
            f"Working on: {member.working_on or 'none'}, Files locked: {locks}")


@dataclass(frozen=True)
class ActivityLine:
    """One RECENT ACTIVITY line's parts."""

    at: datetime
    actor: str  # `Agent <handle> (<role>)` for a member, a person's handle, or `Shoal`
    kind: str
    summary: str

    def __str__(self) -> str:
        return f"[{stamp(self.at)}] {self.actor}: {self.kind} — {self.summary}"


def format_update(status: CrewStatus, activity: Sequence[ActivityLine]) -> str:
    """The block: the markers around its three sections. Members who left are not listed."""
    crew = status.crew
    lines = [OPEN_MARKER, "== CURRENT CREW STATUS =="]
    lines += [status_line(m) for m in status.members if m.status != "left"]
    lines += ["", "== AGENT BUDGET ==",
              f"Running: {status.running} / {crew.agent_budget} | "
              f"Available slots: {status.available}",
              "", "== RECENT ACTIVITY =="]
    lines += [str(line) for line in activity] or ["none"]
    lines.append(CLOSE_MARKER)
    return "\n".join(lines)


async def recent_activity(session: AsyncSession, status: CrewStatus, role: str,
                          limit: int = RECENT_LINES) -> list[ActivityLine]:
    """The newest activity a receiver in this role sees, newest first. Reads the feed a page
    at a time (only the kinds the role may see), so a busy feed costs one or two queries."""
    kinds = shown_kinds(role)
    shown: list[CrewActivity] = []
    before: tuple[datetime, str] | None = None
    while len(shown) < limit:
        query = (select(CrewActivity)
                 .where(CrewActivity.crew_id == status.crew.id, CrewActivity.kind.in_(kinds))
                 .order_by(CrewActivity.at.desc(), CrewActivity.id.desc()).limit(limit * 2))
        if before is not None:
            at, row_id = before
            query = query.where((CrewActivity.at < at)
                                | ((CrewActivity.at == at) & (CrewActivity.id < row_id)))
        page = list((await session.scalars(query)).all())
        shown += [row for row in page if is_shown(row, role)]
        if len(page) < limit * 2:
            break
        before = (page[-1].at, page[-1].id)
    shown = shown[:limit]
    actors = await _actor_labels(session, status, {row.actor_id for row in shown})
    return [ActivityLine(row.at, actors.get(row.actor_id or "", "Shoal"), row.kind, row.summary)
            for row in shown]


async def _actor_labels(session: AsyncSession, status: CrewStatus,
                        actor_ids: Iterable[str | None]) -> dict[str, str]:
    """How each actor is named: members as agents with their role, others by handle."""
    labels = {m.bot_id: f"Agent {m.handle} ({m.role})" for m in status.members}
    others = {a for a in actor_ids if a is not None and a not in labels}
    if others:
        labels.update((await session.execute(
            select(HouseMember.user_id, HouseMember.handle)
            .where(HouseMember.house_id == status.crew.house_id,
                   HouseMember.user_id.in_(others)))).tuples().all())
    return labels


async def crew_update(session: AsyncSession, status: CrewStatus, role: str) -> str:
    """The CREW_UPDATE block for a receiver in this role."""
    return format_update(status, await recent_activity(session, status, role))
