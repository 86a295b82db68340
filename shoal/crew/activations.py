"""What crew members' activations carry (the crew and the role), whatever woke them, and
the status changes and errors their activations mean for the crew's feed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from shoal.crew.activity import record
from shoal.crew.tables import Crew, CrewMember
from shoal.crew.views import handles
from shoal.runtime.activations import activation_view
from shoal.store.tables import Activation
from shoal.subagents.lifecycle import SUBAGENT
from shoal.subagents.tables import Subagent

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from shoal.crew.service import CrewService


class CrewActivations:
    """Tags members' activations (dispatch's hook), follows their ends (the worker's
    listener), and lists a crew's activations."""

    def __init__(self, crews: CrewService) -> None:
        self.crews = crews

    async def tag(self, session: AsyncSession, rows: list[dict[str, Any]]) -> None:
        """Dispatch's hook, in the transaction that inserts new activations: each row of a
        crew member in its crew's room carries the crew and the role (others carry None),
        and a member that was idle is recorded as running."""
        for row in rows:
            row["crew_id"] = row["crew_role"] = None
        found = (await session.execute(
            select(Crew, CrewMember.bot_id, CrewMember.role)
            .join(CrewMember, CrewMember.crew_id == Crew.id)
            .where(Crew.room_id.in_(sorted({r["room_id"] for r in rows})),
                   Crew.state == "active", CrewMember.left_at.is_(None),
                   CrewMember.bot_id.in_(sorted({r["bot_id"] for r in rows}))))).tuples().all()
        if not found:
            return
        members = {(crew.room_id, bot_id): (crew, role) for crew, bot_id, role in found}
        told: set[tuple[str, str]] = set()
        for row in rows:
            key = (row["room_id"], row["bot_id"])
            if key not in members:
                continue
            crew, role = members[key]
            row["crew_id"], row["crew_role"] = crew.id, role
            if row["status"] == "pending" and key not in told:
                told.add(key)
                await self.crews.running(session, crew, row["bot_id"])
        self.crews.feed.watch(session)

    async def finished(self, row: Activation, outcome: Any) -> None:
        """Told by the worker after each activation's end committed: a crew member's error
        is recorded, and so is its going idle."""
        # Work a crew's agents did untagged (a spawner hearing its child) counts too.
        crew_id = row.crew_id or await self.crews.crew_in_room(row.room_id, row.bot_id)
        if crew_id is None:
            return
        async with self.crews.feed.write() as session:
            crew = await session.get(Crew, crew_id)
            if crew is None or crew.state != "active":
                return
            if await self.crews.member(session, crew.id, row.bot_id) is None:
                return
            if getattr(outcome, "outcome", None) == "error":
                error = str(getattr(outcome, "error", None) or "it failed without saying why")
                record(session, crew.id, row.bot_id, "error", f"Error: {error[:200]}",
                       {"activation_id": row.id, "error": error})
            if not await self.crews.busy(session, crew, row.bot_id):
                await self.crews.status(session, crew, row.bot_id, "idle")
            await self._tag_follow_up(session, crew, row)

    async def _tag_follow_up(self, session: AsyncSession, crew: Crew, row: Activation) -> None:
        """A crew sub-agent's end queued its spawner's follow-up: it works for the crew too."""
        if row.trigger_kind != SUBAGENT:
            return
        sub = await session.get(Subagent, (row.payload or {}).get("subagent_id") or "")
        if sub is None or sub.announced_activation_id is None:
            return
        follow_up = await session.get(Activation, sub.announced_activation_id)
        spawner = await self.crews.member(session, crew.id, sub.parent_bot_id)
        if follow_up is None or spawner is None or follow_up.crew_id is not None:
            return
        follow_up.crew_id, follow_up.crew_role = crew.id, spawner.role

    async def list(self, crew_id: str, viewer_id: str, limit: int = 50
                          ) -> list[dict[str, Any]]:
        """The crew's activations (members woken as members), newest first."""
        async with self.crews.db.read() as session:
            crew, _ = await self.crews.load(session, crew_id, viewer_id)
            rows = (await session.scalars(
                select(Activation).where(Activation.crew_id == crew.id)
                .order_by(Activation.created_at.desc(), Activation.id.desc())
                .limit(max(1, min(limit, 200))))).all()
            names = await handles(session, crew.house_id, {r.bot_id for r in rows})
        return [{**activation_view(r), "agent": names.get(r.bot_id)} for r in rows]
