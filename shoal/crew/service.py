"""Crews as people, agents and the API use them: start, change and end a crew; add, spawn and
remove members; model allowlists; and read a crew with its board, locks and feed. The board,
reports, locks and messages are in `shoal.crew.work`, what members' activations carry in
`shoal.crew.activations`; they share the lookups and permissions here."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from shoal.agents.config import load_config
from shoal.crew.activity import changed, record
from shoal.crew.models import ModelDenied, agent_model, checked_config, effective, refusal
from shoal.crew.roles import LEAD, Role, read_roles, role_title
from shoal.crew.status import LIVE_ACTIVATIONS, crew_status
from shoal.crew.sync import schedule_crew
from shoal.crew.tables import CREW_STATES, Crew, CrewActivity, CrewLock, CrewMember, CrewTask
from shoal.crew.views import (
    activity_view,
    crew_view,
    handles,
    lock_view,
    task_counts,
    task_view,
)
from shoal.errors import Conflict, Forbidden, InvalidInput, NotFound
from shoal.ids import new_id
from shoal.rooms.access import RANK, Access, Action, authorize_room
from shoal.store.tables import Activation, House, Room, User, utcnow
from shoal.subagents.lifecycle import (
    SpawnRequest,
    charge_interaction,
    find_agent,
    requester_of,
    spawn,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from shoal.crew.activity import CrewFeed
    from shoal.llm import ModelRouter
    from shoal.store import Database

log = logging.getLogger("shoal.crew")

MAX_GOAL_CHARS = 4000
MAX_BUDGET = 500
FEED_SHOWN = 50  # events in a crew's own view; the feed endpoint pages the rest
LIST_LIMIT = 100
DEFAULTS = {"agent_budget": 50, "refresh_seconds": 180, "lead_idle_seconds": 300}
SETTINGS_RANGE = {"refresh_seconds": (30, 86_400), "lead_idle_seconds": (30, 86_400),
                  "agent_budget": (1, MAX_BUDGET)}


def text_arg(raw: dict[str, Any], name: str, limit: int, *, required: bool = True
             ) -> str | None:
    """A text argument, stripped; InvalidInput says what is wrong."""
    value = raw.get(name)
    if value is None or (isinstance(value, str) and not value.strip() and not required):
        if required:
            raise InvalidInput(f"{name} is required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{name} must be text" + (" and cannot be empty" if required else ""))
    if len(value) > limit:
        raise InvalidInput(f"{name} is longer than {limit} characters")
    return value.strip()


def briefing(goal: str, members: list[str]) -> str:
    """What the lead is told when its crew starts."""
    team = ", ".join(members) if members else "nobody yet"
    return (f"You lead a crew in this room. Its goal:\n\n{goal}\n\nMembers: {team}. Plan "
            "the work as tasks on the board (crew_task_create), assign them, add agents or "
            "spawn them into the crew with a role (crew_add_member), and keep the board "
            "current; members report back to you (crew_report).")


class CrewService:
    """Crews in the database; `feed` tells what changed after each commit, `wake` tells the
    worker new work is waiting, `models` answers the model catalog, `default_model` is the
    server's default for agents without one."""

    def __init__(self, db: Database, feed: CrewFeed, *, models: Callable[[], ModelRouter],
                 wake: Callable[[], None], default_model: str,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.feed = feed
        self.models = models
        self.wake = wake
        self.default_model = default_model
        self.clock = clock

    # Lookups and permissions, shared with the board (shoal.crew.work).

    async def load(self, session: AsyncSession, crew_id: str, viewer_id: str,
                   action: Action = Action.READ) -> tuple[Crew, Access]:
        """A crew whose room the viewer may read (and act in as `action` says), or NotFound."""
        crew = await session.get(Crew, crew_id)
        if crew is None:
            raise NotFound("crew not found")
        try:
            access = await authorize_room(session, viewer_id, crew.room_id, Action.READ)
        except NotFound:
            raise NotFound("crew not found") from None
        if action != Action.READ:
            await authorize_room(session, viewer_id, crew.room_id, action)
        return crew, access

    @staticmethod
    def active(crew: Crew) -> None:
        """Refuse changes to an ended crew."""
        if crew.state != "active":
            raise Conflict(f"crew {crew.id} has ended; its record can be read, not changed")

    @staticmethod
    def manages(crew: Crew, access: Access) -> bool:
        """Whether the caller may change the crew as people do: the one who started it, or a
        house admin or owner."""
        return access.user_id == crew.created_by or RANK.get(access.role or "", -1) >= RANK[
            "admin"]

    @staticmethod
    async def member(session: AsyncSession, crew_id: str, agent_id: str) -> CrewMember | None:
        """The agent's current membership of the crew."""
        return await session.scalar(select(CrewMember).where(
            CrewMember.crew_id == crew_id, CrewMember.bot_id == agent_id,
            CrewMember.left_at.is_(None)))

    async def must_be_member(self, session: AsyncSession, crew: Crew, agent: User
                             ) -> CrewMember:
        """The agent's membership, or Forbidden."""
        member = await self.member(session, crew.id, agent.id)
        if member is None:
            raise Forbidden(f"@{agent.username} is not a member of this crew")
        return member

    @staticmethod
    async def roles(session: AsyncSession, house_id: str) -> dict[str, Role]:
        """The crew roles of a house: the built-in ones and its own (`crew_roles`)."""
        return await read_roles(session, house_id)

    @staticmethod
    async def house_settings(session: AsyncSession, house_id: str) -> dict[str, Any]:
        """The house's stored settings."""
        house = await session.get(House, house_id)
        return dict(house.settings or {}) if house else {}

    async def active_in_room(self, room_id: str) -> str | None:
        """The room's active crew."""
        async with self.db.read() as session:
            return await session.scalar(select(Crew.id).where(Crew.room_id == room_id,
                                                              Crew.state == "active"))

    async def crew_in_room(self, room_id: str, agent_id: str) -> str | None:
        """The active crew of a room that the agent is a member of."""
        async with self.db.read() as session:
            return await session.scalar(
                select(Crew.id).join(CrewMember, CrewMember.crew_id == Crew.id)
                .where(Crew.room_id == room_id, Crew.state == "active",
                       CrewMember.bot_id == agent_id, CrewMember.left_at.is_(None)))

    async def deliver(self, session: AsyncSession, crew: Crew, member: CrewMember,
                      prompt: str, interaction_id: str | None, **payload: Any) -> Activation:
        """Wake a member with a prompt (an activation of kind `crew`, not posted in the
        room), as one agent wake of the sender's interaction."""
        if interaction_id is not None:
            try:
                await charge_interaction(session, interaction_id)
            except Conflict:
                raise Conflict("this conversation's budget of agent wakes is spent, so no "
                               "crew member can be woken in it; nothing was sent") from None
        await self.running(session, crew, member.bot_id)
        now = self.clock()
        activation = Activation(
            id=new_id(), bot_id=member.bot_id, house_id=crew.house_id, room_id=crew.room_id,
            trigger_message_id=None, trigger_kind="crew", status="pending",
            payload={"prompt": prompt, "crew": payload}, interaction_id=interaction_id,
            attempts=0, input_tokens=0, output_tokens=0, available_at=now, created_at=now,
            crew_id=crew.id, crew_role=member.role)
        session.add(activation)
        return activation

    async def running(self, session: AsyncSession, crew: Crew, agent_id: str) -> None:
        """Record that a member has work now, if it had none (called before the work's
        activation is added)."""
        if not await self.busy(session, crew, agent_id):
            await self.status(session, crew, agent_id, "running")

    @staticmethod
    async def busy(session: AsyncSession, crew: Crew, agent_id: str) -> bool:
        """Whether the member has work pending or running in the crew's room."""
        return await session.scalar(select(Activation.id).where(
            Activation.room_id == crew.room_id, Activation.bot_id == agent_id,
            Activation.status.in_(LIVE_ACTIVATIONS)).limit(1)) is not None

    @staticmethod
    async def status(session: AsyncSession, crew: Crew, agent_id: str, to: str) -> None:
        """Record a member's status change, unless the feed already says it is so (work
        that started or ended in another transaction at the same moment)."""
        last = await session.scalar(
            select(CrewActivity.data).where(CrewActivity.crew_id == crew.id,
                                            CrewActivity.actor_id == agent_id,
                                            CrewActivity.kind == "status_change")
            .order_by(CrewActivity.at.desc(), CrewActivity.id.desc()).limit(1))
        was = (last or {}).get("to", "idle")
        if was != to:
            record(session, crew.id, agent_id, "status_change", f"Status: {was} → {to}",
                   {"from": was, "to": to})

    # Crews.

    async def start(self, by: User, room_id: str, raw: dict[str, Any]) -> dict[str, Any]:
        """Start a crew in a room: a goal, a lead agent, maybe members and settings. Anyone
        who may post in the room may; one active crew per room."""
        goal = text_arg(raw, "goal", MAX_GOAL_CHARS)
        name = text_arg(raw, "name", 120, required=False) or ""
        lead_name = text_arg(raw, "lead", 100)
        assert goal is not None and lead_name is not None
        members = raw.get("members") or []
        if not isinstance(members, list) or not all(
                isinstance(m, dict) and set(m) <= {"agent", "role"} for m in members):
            raise InvalidInput('members must be a list of {"agent": "@handle", "role": '
                               '"developer"}')
        settings = self._settings(raw)
        async with self.feed.write() as session:
            access = await authorize_room(session, by.id, room_id, Action.POST)
            room = await session.get(Room, room_id, with_for_update=True)
            assert room is not None
            if await session.scalar(select(Crew.id).where(Crew.room_id == room_id,
                                                          Crew.state == "active")):
                raise Conflict("this room already has an active crew; end it first "
                               "(/crew end) or change it")
            house_settings = await self.house_settings(session, access.house_id)
            roles = await self.roles(session, access.house_id)
            model_config = checked_config(raw.get("model_config") or {}, list(roles),
                                          self.models().catalog, house_settings)
            lead = await self._agent_in_room(session, access.house_id, room_id, lead_name)
            now = self.clock()
            crew = Crew(id=new_id(), house_id=access.house_id, room_id=room_id, name=name,
                        goal=goal, lead_bot_id=lead.id, state="active",
                        model_config=model_config, created_by=by.id, created_at=now,
                        updated_at=now, heartbeat_halted=False, unanswered_nudges=0,
                        **{**DEFAULTS, **settings})
            why = refusal(model_config, house_settings, LEAD,
                          agent_model(lead, self.default_model), self.models().catalog,
                          f"@{lead.username}")
            if why is not None:
                raise InvalidInput(why)
            session.add(crew)
            await session.flush()
            # Its CREW_UPDATE refreshes and its lead's heartbeat are due from the start.
            await schedule_crew(session, crew, now)
            record(session, crew.id, by.id, "crew_started", f"Crew started: {goal[:120]}",
                   {"goal": goal})
            lead_member = await self._join(session, crew, lead, LEAD, by.id)
            joined = []
            for entry in members:
                agent = await self._agent_in_room(session, access.house_id, room_id,
                                                  str(entry.get("agent", "")))
                role = self._role(roles, str(entry.get("role", "")))
                why = refusal(model_config, house_settings, role,
                              agent_model(agent, self.default_model), self.models().catalog,
                              f"@{agent.username}")
                if why is not None:
                    raise InvalidInput(why)
                await self._join(session, crew, agent, role, by.id)
                joined.append(f"@{agent.username} ({role})")
            await self.deliver(session, crew, lead_member, briefing(goal, joined), None,
                               started=True)
        self.wake()
        log.info("@%s started crew %s in room %s with lead @%s", by.username, crew.id,
                 room_id, lead.username)
        return await self.view(crew.id, by.id)

    def _settings(self, raw: dict[str, Any]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for key, (low, high) in SETTINGS_RANGE.items():
            if key not in raw or raw[key] is None:
                continue
            value = raw[key]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise InvalidInput(f"{key} must be a whole number from {low} to {high}")
            found[key] = value
        return found

    async def list_room(self, room_id: str, viewer_id: str, state: str | None = None
                        ) -> list[dict[str, Any]]:
        """A room's crews, newest first, with members and task counts."""
        if state is not None and state not in CREW_STATES:
            raise InvalidInput(f"state must be one of {', '.join(CREW_STATES)}")
        async with self.db.read() as session:
            access = await authorize_room(session, viewer_id, room_id, Action.READ)
            query = select(Crew).where(Crew.room_id == room_id)
            if state is not None:
                query = query.where(Crew.state == state)
            crews = (await session.scalars(query.order_by(Crew.created_at.desc(), Crew.id.desc())
                                           .limit(LIST_LIMIT))).all()
            roles = await self.roles(session, access.house_id)
            return [crew_view(c, await crew_status(session, c), roles,
                              await task_counts(session, c.id)) for c in crews]

    async def view(self, crew_id: str, viewer_id: str) -> dict[str, Any]:
        """A crew as its panel shows it: goal, budget, members (status, current task, locks),
        the board, the locks and the newest events of the feed."""
        async with self.db.read() as session:
            crew, _ = await self.load(session, crew_id, viewer_id)
            roles = await self.roles(session, crew.house_id)
            view = crew_view(crew, await crew_status(session, crew), roles,
                             await task_counts(session, crew.id))
            tasks = (await session.scalars(select(CrewTask).where(CrewTask.crew_id == crew.id)
                                           .order_by(CrewTask.created_at, CrewTask.id))).all()
            locks = (await session.scalars(select(CrewLock).where(CrewLock.crew_id == crew.id)
                                           .order_by(CrewLock.resource))).all()
            feed = (await session.scalars(
                select(CrewActivity).where(CrewActivity.crew_id == crew.id)
                .order_by(CrewActivity.at.desc(), CrewActivity.id.desc())
                .limit(FEED_SHOWN))).all()
            names = await handles(session, crew.house_id, {
                *(t.assignee_id for t in tasks), *(t.updated_by for t in tasks),
                *(lock.holder_id for lock in locks), *(a.actor_id for a in feed)})
        view["board"] = [task_view(t, names) for t in tasks]
        view["locks"] = [lock_view(lock, names) for lock in locks]
        view["feed"] = [activity_view(a, names) for a in feed]
        view["roles"] = {name: {"receives_updates": r.receives_updates, "sub_lead": r.sub_lead}
                         for name, r in roles.items()}
        return view

    async def change(self, crew_id: str, by: User, raw: dict[str, Any]) -> dict[str, Any]:
        """Change a crew's goal, name, budget and timings: its starter or a house admin. (Its
        heartbeat is halted and resumed at `/api/crews/{id}/heartbeat`.)"""
        unknown = set(raw) - {"goal", "name", *SETTINGS_RANGE}
        if unknown:
            raise InvalidInput(f"unknown crew setting {sorted(unknown)[0]!r}; a crew's goal, "
                               "name, agent_budget, refresh_seconds and lead_idle_seconds "
                               "can change")
        goal = text_arg(raw, "goal", MAX_GOAL_CHARS, required=False) if "goal" in raw else None
        name = text_arg(raw, "name", 120, required=False) if "name" in raw else None
        settings = self._settings(raw)
        async with self.feed.write() as session:
            crew, access = await self.load(session, crew_id, by.id)
            self.active(crew)
            if not self.manages(crew, access):
                raise Forbidden("only the one who started this crew or a house admin may "
                                "change it")
            if goal is not None and goal != crew.goal:
                crew.goal = goal
                record(session, crew.id, by.id, "goal_changed", f"Goal: {goal[:120]}",
                       {"goal": goal})
            if name is not None:
                crew.name = name
            for key, value in settings.items():
                setattr(crew, key, value)
            crew.updated_at = self.clock()
            changed(session, crew.id)
        return await self.view(crew_id, by.id)

    async def end(self, crew_id: str, by: User) -> dict[str, Any]:
        """End a crew: its starter or a house admin. Its locks are released; its record
        (members, board, feed) stays readable."""
        async with self.feed.write() as session:
            crew, access = await self.load(session, crew_id, by.id)
            self.active(crew)
            if not self.manages(crew, access):
                raise Forbidden("only the one who started this crew or a house admin may end it")
            for lock in (await session.scalars(select(CrewLock).where(
                    CrewLock.crew_id == crew.id))).all():
                await self.release(session, crew, lock, "the crew ended")
            now = self.clock()
            crew.state, crew.ended_at, crew.ended_by, crew.updated_at = "ended", now, by.id, now
            record(session, crew.id, by.id, "crew_ended", "Crew ended", {})
        log.info("@%s ended crew %s", by.username, crew_id)
        return await self.view(crew_id, by.id)

    async def release(self, session: AsyncSession, crew: Crew, lock: CrewLock, why: str
                      ) -> None:
        """Release a lock and record it."""
        await session.delete(lock)
        record(session, crew.id, lock.holder_id, "lock_released",
               f"Lock released: {lock.resource}", {"resource": lock.resource,
                                                  "holder": lock.holder_id, "reason": why})

    # Members.

    @staticmethod
    def _role(roles: dict[str, Role], name: str) -> str:
        role = name.strip().lower()
        if role == LEAD:
            raise InvalidInput("a crew has one lead, named when it starts; choose another role")
        if role not in roles:
            raise InvalidInput(f"there is no crew role {name!r}; roles: "
                               + ", ".join(r for r in roles if r != LEAD))
        return role

    async def _agent_in_room(self, session: AsyncSession, house_id: str, room_id: str,
                             name: str) -> User:
        if not name.strip():
            raise InvalidInput("name an agent by its @handle")
        agent = await find_agent(session, house_id, name.strip())
        try:
            await authorize_room(session, agent.id, room_id, Action.POST)
        except (Forbidden, NotFound):
            raise InvalidInput(f"@{agent.username} may not post in this room, so it cannot "
                               "work in its crew; add it to the room first") from None
        return agent

    async def _join(self, session: AsyncSession, crew: Crew, agent: User, role: str,
                    added_by: str, subagent_id: str | None = None) -> CrewMember:
        member = await session.scalar(select(CrewMember).where(
            CrewMember.crew_id == crew.id, CrewMember.bot_id == agent.id))
        if member is not None and member.left_at is None:
            raise Conflict(f"@{agent.username} is already in this crew as {member.role}")
        now = self.clock()
        if member is None:
            member = CrewMember(id=new_id(), crew_id=crew.id, bot_id=agent.id, role=role,
                                added_by=added_by, joined_at=now, subagent_id=subagent_id)
            session.add(member)
        else:
            member.role, member.left_at, member.joined_at = role, None, now
            member.added_by, member.subagent_id = added_by, subagent_id
        await session.flush()
        record(session, crew.id, agent.id, "member_joined",
               f"Joined as {role_title(role)}", {"role": role, "added_by": added_by})
        changed(session, crew.id, joined=agent.id)
        return member

    async def _may_add(self, session: AsyncSession, crew: Crew, access: Access, by: User
                       ) -> None:
        if self.manages(crew, access):
            return
        member = await self.member(session, crew.id, by.id)
        roles = await self.roles(session, crew.house_id)
        role = roles.get(member.role) if member else None
        if role is None or not role.sub_lead:
            raise Forbidden("only the crew's lead and sub-leads, the one who started it, or a "
                            "house admin may add members")

    async def add_member(self, crew_id: str, by: User, agent_name: str, role_name: str
                         ) -> dict[str, Any]:
        """Add an agent with a role: the crew's managers, its lead and its sub-leads. An
        agent whose model the role does not allow is refused (and the feed says so)."""
        try:
            async with self.feed.write() as session:
                crew, access = await self.load(session, crew_id, by.id)
                self.active(crew)
                await self._may_add(session, crew, access, by)
                roles = await self.roles(session, crew.house_id)
                role = self._role(roles, role_name)
                agent = await self._agent_in_room(session, crew.house_id, crew.room_id,
                                                  agent_name)
                await self.check_model(session, crew, role, agent,
                                       agent_model(agent, self.default_model))
                await self._join(session, crew, agent, role, by.id)
        except ModelDenied as denied:
            await self.record_denial(denied, by.id)
            raise
        return await self.view(crew_id, by.id)

    async def check_model(self, session: AsyncSession, crew: Crew, role: str, agent: User,
                          model: str) -> None:
        """Refuse an agent whose model the role's allowlist does not name."""
        settings = await self.house_settings(session, crew.house_id)
        why = refusal(crew.model_config, settings, role, model, self.models().catalog,
                      f"@{agent.username}")
        if why is not None:
            raise ModelDenied(why, crew.id, agent.id, {"role": role, "model": model})

    async def record_denial(self, denied: ModelDenied, by_id: str) -> None:
        """Keep a model refusal in the crew's feed (its own transaction: the refused one was
        rolled back)."""
        async with self.feed.write() as session:
            record(session, denied.crew_id, by_id, "model_denied",
                   f"Model denied: {denied.data['model']} for {role_title(denied.data['role'])}",
                   {**denied.data, "agent_id": denied.agent_id, "reason": denied.message})

    async def remove_member(self, crew_id: str, by: User, agent_name: str) -> dict[str, Any]:
        """Take an agent out of the crew (its managers, or the lead): its locks go, its
        membership is kept as left."""
        async with self.feed.write() as session:
            crew, access = await self.load(session, crew_id, by.id)
            self.active(crew)
            if not self.manages(crew, access) and by.id != crew.lead_bot_id:
                raise Forbidden("only the crew's lead, the one who started it, or a house "
                                "admin may remove members")
            agent = await find_agent(session, crew.house_id, agent_name.strip() or "-")
            member = await self.member(session, crew.id, agent.id)
            if member is None:
                raise NotFound(f"@{agent.username} is not a member of this crew")
            if agent.id == crew.lead_bot_id:
                raise InvalidInput("the lead cannot leave its crew; end the crew instead")
            await self.leave(session, crew, member, by.id)
        return await self.view(crew_id, by.id)

    async def leave(self, session: AsyncSession, crew: Crew, member: CrewMember, by_id: str
                    ) -> None:
        """A member leaves: its locks expire with its membership."""
        for lock in (await session.scalars(select(CrewLock).where(
                CrewLock.crew_id == crew.id, CrewLock.holder_id == member.bot_id))).all():
            await self.release(session, crew, lock, "its holder left the crew")
        member.left_at = self.clock()
        record(session, crew.id, member.bot_id, "member_left",
               f"Left the crew ({role_title(member.role)})",
               {"role": member.role, "removed_by": by_id})

    async def spawn_member(self, lead: User, activation_id: str, raw: dict[str, Any]
                           ) -> dict[str, Any]:
        """The lead (or a sub-lead) spawns a sub-agent into its crew: the agent joins with a
        role and works the task as a child of the spawning agent's activation."""
        role_name = text_arg(raw, "role", 40)
        agent_name = text_arg(raw, "agent", 100)
        assert role_name is not None and agent_name is not None
        request = SpawnRequest.parse({k: raw[k] for k in (
            "task", "label", "model", "run_timeout_seconds", "thinking") if k in raw}
            | {"agentId": agent_name, "announce": "parent"})
        try:
            async with self.feed.write() as session:
                parent = await session.get(Activation, activation_id)
                if parent is None:
                    raise NotFound("the activation spawning this sub-agent is gone")
                crew_id = await self.crew_in_room(parent.room_id, lead.id)
                if crew_id is None:
                    raise InvalidInput("you are not in an active crew in this room")
                crew, access = await self.load(session, crew_id, lead.id)
                await self._may_add(session, crew, access, lead)
                roles = await self.roles(session, crew.house_id)
                role = self._role(roles, role_name)
                child = await self._agent_in_room(session, crew.house_id, crew.room_id,
                                                  agent_name)
                if child.id == lead.id:
                    raise InvalidInput("spawn another agent into the crew, not yourself")
                status = await crew_status(session, crew)
                if status.available <= 0:
                    raise Conflict(f"the crew's budget of {crew.agent_budget} running agents "
                                   "is spent; wait for a member to finish")
                own = load_config(lead.config).subagents.model
                model = request.model or (own.primary if own else None) or agent_model(
                    child, self.default_model)
                await self.check_model(session, crew, role, child, model)
                member = await self.member(session, crew.id, child.id)
                if member is not None and member.role != role:
                    raise Conflict(f"@{child.username} is already in this crew as "
                                   f"{member.role}")
                await self.running(session, crew, child.id)
                sub = await spawn(session, lead, crew.house_id, crew.room_id, request,
                                  parent_activation=parent,
                                  requested_by=await requester_of(session, parent),
                                  now=self.clock())
                if member is None:
                    member = await self._join(session, crew, child, role, lead.id, sub.id)
                else:
                    member.subagent_id = sub.id
                started = await session.get(Activation, sub.activation_id)
                assert started is not None
                started.crew_id, started.crew_role = crew.id, role
        except ModelDenied as denied:
            await self.record_denial(denied, lead.id)
            raise
        self.wake()
        return {"status": "accepted", "id": sub.id, "agent": f"@{child.username}",
                "role": role, "crew_id": crew.id, "model": sub.model}

    # Model allowlists.

    async def model_config(self, crew_id: str, viewer_id: str) -> dict[str, Any]:
        """A crew's model allowlists: its own, the house's defaults and, per role, the result
        (null: any model)."""
        async with self.db.read() as session:
            crew, _ = await self.load(session, crew_id, viewer_id)
            settings = await self.house_settings(session, crew.house_id)
            roles = list(await self.roles(session, crew.house_id))
        return {"crew_id": crew.id, "models": dict(crew.model_config or {}),
                "defaults": dict(settings.get("crew_models") or {}),
                "effective": effective(crew.model_config, settings, roles)}

    async def set_model_config(self, crew_id: str, by: User, raw: Any) -> dict[str, Any]:
        """Replace a crew's own allowlists (`{"models": {role: [ref, ...] or null}}`): house
        owners and admins. Members already in keep their place."""
        if not isinstance(raw, dict) or set(raw) != {"models"}:
            raise InvalidInput('send {"models": {role: [model, ...]}}; a role left out (or '
                               "null) takes the house's default")
        async with self.feed.write() as session:
            crew, access = await self.load(session, crew_id, by.id)
            self.active(crew)
            if RANK.get(access.role or "", -1) < RANK["admin"]:
                raise Forbidden(f"your role ({access.role}) may not change a crew's models; "
                                "it needs admin or above")
            settings = await self.house_settings(session, crew.house_id)
            roles = list(await self.roles(session, crew.house_id))
            crew.model_config = checked_config(raw["models"], roles, self.models().catalog,
                                               settings)
            crew.updated_at = self.clock()
            changed(session, crew.id)
        return await self.model_config(crew_id, by.id)
