"""Small fixtures for crew tests: a crew made by inserting rows (a house, a room, its agents
with handles and roles), and the facts tests set around it (work running, tasks, locks,
activity) and read back (an agent's session turns)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from shoal.auth.accounts import create_bot
from shoal.crew.tables import Crew, CrewActivity, CrewLock, CrewMember, CrewTask
from shoal.rooms.houses import add_house_member
from shoal.runtime.session_tables import AgentSession, SessionTurn
from shoal.store.tables import Activation, House, Room, User, utcnow
from tests.support import unique

if TYPE_CHECKING:
    from shoal.store import Database


@dataclass
class CrewRows:
    """A crew as inserted: its ids, and each agent's id by handle."""

    crew_id: str
    house_id: str
    room_id: str
    lead: str
    agents: dict[str, str] = field(default_factory=dict)  # handle -> bot id

    def __getitem__(self, handle: str) -> str:
        return self.agents[handle]


async def make_crew(db: Database, members: list[tuple[str, str]], *, now: datetime | None = None,
                    room_id: str | None = None, house_id: str | None = None,
                    **crew: Any) -> CrewRows:
    """A crew whose agents are `(handle, role)` pairs, the first one `lead`; in a new house
    and room unless given. `crew` sets the Crew's columns (refresh_seconds, ...)."""
    now = now or utcnow()
    async with db.write() as session:
        owner = User(username=unique("o"), username_key=unique("o"), display_name="Owner")
        session.add(owner)
        if house_id is None:
            house = House(name="crew house", slug=unique("h"))
            session.add(house)
            await session.flush()
            house_id = house.id
        if room_id is None:
            room = Room(house_id=house_id, slug=unique("r"), name="crew room")
            session.add(room)
            await session.flush()
            room_id = room.id
        await session.flush()
        agents: dict[str, str] = {}
        for handle, _ in members:
            bot = await create_bot(session, unique("bot"), owner.id, verified=True)
            member = await add_house_member(session, house_id, bot, "member")
            member.handle = handle
            agents[handle] = bot.id
        lead = agents[members[0][0]]
        row = Crew(house_id=house_id, room_id=room_id, goal="Ship the auth module",
                   lead_bot_id=lead, created_by=owner.id, created_at=now, updated_at=now,
                   **crew)
        session.add(row)
        await session.flush()
        for handle, role in members:
            session.add(CrewMember(crew_id=row.id, bot_id=agents[handle], role=role,
                                   joined_at=now))
        return CrewRows(row.id, house_id, room_id, lead, agents)


async def join_crew(db: Database, crew: CrewRows, handle: str, role: str) -> str:
    """A new agent joins the crew with a role; returns its id."""
    async with db.write() as session:
        owner = await session.scalar(select(Crew.created_by).where(Crew.id == crew.crew_id))
        bot = await create_bot(session, unique("bot"), owner, verified=True)
        member = await add_house_member(session, crew.house_id, bot, "member")
        member.handle = handle
        session.add(CrewMember(crew_id=crew.crew_id, bot_id=bot.id, role=role))
        crew.agents[handle] = bot.id
        return bot.id


async def start_work(db: Database, crew: CrewRows, handle: str,
                     status: str = "running") -> str:
    """The agent has work pending or running in the crew's room (it is not idle)."""
    async with db.write() as session:
        row = Activation(bot_id=crew[handle], house_id=crew.house_id, room_id=crew.room_id,
                         trigger_kind="direct", status=status)
        session.add(row)
        await session.flush()
        return row.id


async def finish_work(db: Database, crew: CrewRows, handle: str, at: datetime,
                      outcome: str = "skipped") -> None:
    """Every pending or running activation of the agent in the room ends at `at`."""
    async with db.write() as session:
        await session.execute(update(Activation).where(
            Activation.bot_id == crew[handle], Activation.room_id == crew.room_id,
            Activation.status.in_(("pending", "running"))).values(
            status="done", outcome=outcome, finished_at=at))


async def add_task(db: Database, crew: CrewRows, title: str, status: str = "todo",
                   assignee: str | None = None) -> str:
    """A task on the crew's board."""
    async with db.write() as session:
        row = CrewTask(crew_id=crew.crew_id, title=title, status=status,
                       assignee_id=crew[assignee] if assignee else None)
        session.add(row)
        await session.flush()
        return row.id


async def add_lock(db: Database, crew: CrewRows, resource: str, holder: str) -> None:
    """The agent holds a lock on the resource."""
    async with db.write() as session:
        session.add(CrewLock(crew_id=crew.crew_id, resource=resource, holder_id=crew[holder]))


async def record(db: Database, crew: CrewRows, actor: str | None, kind: str, summary: str,
                 at: datetime, data: dict[str, Any] | None = None) -> None:
    """One activity in the crew's feed, by an agent (its handle) or Shoal (None)."""
    async with db.write() as session:
        session.add(CrewActivity(crew_id=crew.crew_id, actor_id=crew[actor] if actor else None,
                                 kind=kind, summary=summary, data=data or {}, at=at))


async def session_texts(db: Database, bot_id: str, key: str) -> list[str]:
    """The contents of an agent's session turns under this key, oldest first."""
    async with db.read() as session:
        return list((await session.scalars(
            select(SessionTurn.content).join(AgentSession,
                                             AgentSession.id == SessionTurn.session_id)
            .where(AgentSession.bot_id == bot_id, AgentSession.key == key)
            .order_by(SessionTurn.index))).all())
