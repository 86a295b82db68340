"""A crew's work: its task board, reports to the lead, edits and commits, resource locks,
messages among members, and the feed that records all of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from shoal.crew.activity import KINDS, changed, record
from shoal.crew.roles import LEAD, role_title
from shoal.crew.service import text_arg
from shoal.crew.tables import (
    REPORT_KINDS,
    TASK_STATES,
    Crew,
    CrewActivity,
    CrewLock,
    CrewMember,
    CrewTask,
)
from shoal.crew.views import activity_view, handles, lock_view, task_view
from shoal.errors import Forbidden, InvalidInput, NotFound
from shoal.ids import new_id
from shoal.rooms.access import Action
from shoal.store.tables import Activation, User
from shoal.subagents.lifecycle import find_agent

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from shoal.crew.service import CrewService

MAX_TITLE = 200
MAX_TEXT = 4000
MAX_FILES = 100
FEED_LIMIT = 200


@dataclass(frozen=True)
class LockAnswer:
    """A lock request's answer: held by the asker now, or by `holder`."""

    acquired: bool
    resource: str
    holder: str


class CrewWork:
    """Tasks, reports, locks and messages of the crews `crews` keeps."""

    def __init__(self, crews: CrewService) -> None:
        self.crews = crews

    async def _actor(self, session: AsyncSession, crew: Crew, by: User
                     ) -> CrewMember | None:
        """The member acting (for an agent; an agent must be one), None for a person."""
        if by.kind != "bot":
            return None
        return await self.crews.must_be_member(session, crew, by)

    # The board.

    async def tasks(self, crew_id: str, viewer_id: str, *, status: str | None = None,
                    assignee: str | None = None) -> list[dict[str, Any]]:
        """The board, oldest card first, filtered by status or assignee (@handle or id)."""
        if status is not None and status not in TASK_STATES:
            raise InvalidInput(f"status must be one of {', '.join(TASK_STATES)}")
        async with self.crews.db.read() as session:
            crew, _ = await self.crews.load(session, crew_id, viewer_id)
            query = select(CrewTask).where(CrewTask.crew_id == crew.id)
            if status is not None:
                query = query.where(CrewTask.status == status)
            if assignee is not None:
                agent = await find_agent(session, crew.house_id, assignee)
                query = query.where(CrewTask.assignee_id == agent.id)
            rows = (await session.scalars(query.order_by(CrewTask.created_at, CrewTask.id))).all()
            names = await handles(session, crew.house_id, {
                *(t.assignee_id for t in rows), *(t.updated_by for t in rows)})
        return [task_view(t, names) for t in rows]

    async def _assignee(self, session: AsyncSession, crew: Crew, name: Any, by: User
                        ) -> str | None:
        if name is None or name == "":
            return None
        if not isinstance(name, str):
            raise InvalidInput("assignee must be a member's @handle")
        agent = by if name.strip().lower() == "me" else await find_agent(
            session, crew.house_id, name.strip())
        if await self.crews.member(session, crew.id, agent.id) is None:
            raise InvalidInput(f"@{agent.username} is not a member of this crew; add it first")
        return agent.id

    async def create_task(self, crew_id: str, by: User, raw: dict[str, Any]) -> dict[str, Any]:
        """Put a card on the board: a member agent, or a person who may post in the room."""
        title = text_arg(raw, "title", MAX_TITLE)
        description = text_arg(raw, "description", MAX_TEXT, required=False) or ""
        status = raw.get("status") or "todo"
        if status not in TASK_STATES:
            raise InvalidInput(f"status must be one of {', '.join(TASK_STATES)}")
        assert title is not None
        async with self.crews.feed.write() as session:
            crew, _ = await self.crews.load(session, crew_id, by.id, Action.POST)
            self.crews.active(crew)
            await self._actor(session, crew, by)
            assignee = await self._assignee(session, crew, raw.get("assignee"), by)
            now = self.crews.clock()
            task = CrewTask(id=new_id(), crew_id=crew.id, title=title, description=description,
                            assignee_id=assignee, status=status, created_by=by.id,
                            created_at=now, updated_by=by.id, updated_at=now)
            session.add(task)
            names = await handles(session, crew.house_id, {assignee})
            record(session, crew.id, by.id, "task_created", f"Task created: {title}" + (
                f" → {names[assignee]}" if assignee in names else ""),
                {"task_id": task.id, "status": status, "assignee": assignee})
            changed(session, crew.id, task=task)
            names = await handles(session, crew.house_id, {assignee, by.id})
        return task_view(task, names)

    async def find_task(self, session: AsyncSession, crew: Crew, ref: str) -> CrewTask:
        """A card by its id, the end of its id (at least 4 characters; /task shows 8), or
        its exact title."""
        ref = ref.strip().lstrip("#")
        if not ref:
            raise InvalidInput("give the task's id (at least its last 4 characters) or title")
        found = (await session.scalars(select(CrewTask).where(
            CrewTask.crew_id == crew.id, CrewTask.title == ref).limit(2))).all()
        if not found and len(ref) >= 4:
            found = (await session.scalars(select(CrewTask).where(
                CrewTask.crew_id == crew.id, CrewTask.id.endswith(ref, autoescape=True))
                .limit(2))).all()
        if not found:
            raise NotFound(f"this crew has no task {ref}")
        if len(found) > 1:
            raise InvalidInput(f"more than one task matches {ref!r}; give more of its id")
        return found[0]

    async def update_task(self, crew_id: str, task_ref: str, by: User, raw: dict[str, Any]
                          ) -> dict[str, Any]:
        """Change a card's status, assignee, title or description. People who may post in
        the room, the lead and sub-leads change any card; other members their own and
        unassigned ones (taking an unassigned one in hand assigns it to them)."""
        unknown = set(raw) - {"status", "assignee", "title", "description"}
        if unknown or not raw:
            raise InvalidInput("a task's status, assignee, title and description can change"
                               + (f"; {sorted(unknown)[0]!r} cannot" if unknown else ""))
        status = raw.get("status")
        if status is not None and status not in TASK_STATES:
            raise InvalidInput(f"status must be one of {', '.join(TASK_STATES)}")
        title = text_arg(raw, "title", MAX_TITLE) if "title" in raw else None
        description = text_arg(raw, "description", MAX_TEXT, required=False) \
            if "description" in raw else None
        async with self.crews.feed.write() as session:
            crew, _ = await self.crews.load(session, crew_id, by.id, Action.POST)
            self.crews.active(crew)
            member = await self._actor(session, crew, by)
            task = await self.find_task(session, crew, task_ref)
            if member is not None:
                roles = await self.crews.roles(session, crew.house_id)
                role = roles.get(member.role)
                if not (role and role.sub_lead) and task.assignee_id not in (None, by.id):
                    raise Forbidden("this task is assigned to another member; ask the lead "
                                    "to change it")
            before = (task.status, task.assignee_id)
            if "assignee" in raw:
                task.assignee_id = await self._assignee(session, crew, raw["assignee"], by)
            elif member is not None and task.assignee_id is None and status == "in_progress":
                task.assignee_id = by.id
            if status is not None:
                task.status = status
            if title is not None:
                task.title = title
            if description is not None:
                task.description = description
            task.updated_by, task.updated_at = by.id, self.crews.clock()
            names = await handles(session, crew.house_id, {task.assignee_id, by.id})
            summary = f"Task {task.status.replace('_', ' ')}: {task.title}"
            if task.assignee_id != before[1] and task.assignee_id in names:
                summary += f" → {names[task.assignee_id]}"
            record(session, crew.id, by.id, "task_updated", summary,
                   {"task_id": task.id, "status": task.status, "assignee": task.assignee_id,
                    "from": before[0]})
            changed(session, crew.id, task=task)
        return task_view(task, names)

    # Reports, edits, messages.

    async def _live_member(self, session: AsyncSession, crew_id: str, agent: User
                           ) -> tuple[Crew, CrewMember]:
        crew, _ = await self.crews.load(session, crew_id, agent.id, Action.POST)
        self.crews.active(crew)
        if agent.kind != "bot":
            raise Forbidden("only the crew's agents report, lock and message as members")
        return crew, await self.crews.must_be_member(session, crew, agent)

    @staticmethod
    async def _interaction(session: AsyncSession, activation_id: str | None) -> str | None:
        if activation_id is None:
            return None
        return await session.scalar(select(Activation.interaction_id).where(
            Activation.id == activation_id))

    async def report(self, crew_id: str, agent: User, kind: str, text: str,
                     activation_id: str | None = None) -> dict[str, Any]:
        """A member reports to the lead: progress (recorded), completion, blocker or error
        (recorded, and the lead is woken with it)."""
        if kind not in REPORT_KINDS:
            raise InvalidInput(f"kind must be one of {', '.join(REPORT_KINDS)}")
        text = text_arg({"text": text}, "text", MAX_TEXT) or ""
        async with self.crews.feed.write() as session:
            crew, member = await self._live_member(session, crew_id, agent)
            first = text.splitlines()[0][:120]
            row = record(session, crew.id, agent.id, "report",
                         f"{kind.capitalize()} report: {first}", {"kind": kind, "text": text})
            lead = await self.crews.member(session, crew.id, crew.lead_bot_id)
            woke = kind != "progress" and lead is not None and agent.id != crew.lead_bot_id
            if woke:
                assert lead is not None
                await self.crews.deliver(
                    session, crew, lead,
                    f"Crew report from @{agent.username} ({role_title(member.role)}), "
                    f"{kind}:\n\n{text}", await self._interaction(session, activation_id),
                    report_from=agent.id, kind=kind)
        if woke:
            self.crews.wake()
        return {"id": row.id, "kind": kind, "delivered_to_lead": woke}

    async def file_edit(self, crew_id: str, agent: User, raw: dict[str, Any]
                        ) -> dict[str, Any]:
        """A member tells the crew it edited files or committed."""
        files = raw.get("files") or []
        if not isinstance(files, list) or len(files) > MAX_FILES or not all(
                isinstance(f, str) and f.strip() and len(f) <= 300 for f in files):
            raise InvalidInput(f"files must be a list of at most {MAX_FILES} paths")
        commit = text_arg(raw, "commit", 300, required=False)
        if not files and commit is None:
            raise InvalidInput("say which files changed, or the commit's message, or both")
        count = f"{len(files)} file{'s' if len(files) != 1 else ''}"
        if commit is not None:
            summary = f"Commit: {commit.splitlines()[0]}" + (f" ({count})" if files else "")
        else:
            shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3
                                            else "")
            summary = f"Edited {shown}"
        async with self.crews.feed.write() as session:
            crew, _ = await self._live_member(session, crew_id, agent)
            row = record(session, crew.id, agent.id, "file_edit", summary,
                         {"files": files, "commit": commit})
        return {"id": row.id, "summary": summary}

    async def message(self, crew_id: str, agent: User, to: str, text: str,
                      activation_id: str | None = None) -> dict[str, Any]:
        """A member messages the lead (`lead`), the whole crew (`crew`) or one member
        (@handle): each recipient is woken with it, not in the room."""
        text = text_arg({"text": text}, "text", MAX_TEXT) or ""
        target = (to or "").strip()
        if not target:
            raise InvalidInput('to must be "lead", "crew" or a member\'s @handle')
        async with self.crews.feed.write() as session:
            crew, member = await self._live_member(session, crew_id, agent)
            if target.lower() == "crew":
                recipients = [m for m in await self._members(session, crew)
                              if m.bot_id != agent.id]
            else:
                who = crew.lead_bot_id if target.lower() == LEAD else (
                    await find_agent(session, crew.house_id, target)).id
                found = await self.crews.member(session, crew.id, who)
                if found is None:
                    raise InvalidInput(f"{target} is not a member of this crew")
                recipients = [found]
            if not recipients or any(r.bot_id == agent.id for r in recipients):
                raise InvalidInput("there is nobody else to message")
            names = await handles(session, crew.house_id, {r.bot_id for r in recipients})
            interaction = await self._interaction(session, activation_id)
            heading = f"Crew message from @{agent.username} ({role_title(member.role)})"
            if target.lower() == "crew":
                heading += " to the crew"
            for recipient in recipients:
                await self.crews.deliver(session, crew, recipient, f"{heading}:\n\n{text}",
                                         interaction, message_from=agent.id)
            if target.lower() == "crew":
                kind, summary = "group_message", f"Message → crew ({len(recipients)} members)"
            else:
                one = recipients[0]
                kind = "message_to_lead" if one.bot_id == crew.lead_bot_id else "dm"
                summary = f"Message → {role_title(one.role)} ({names.get(one.bot_id, '-')})"
            record(session, crew.id, agent.id, kind, summary,
                   {"to": [r.bot_id for r in recipients], "text": text})
        self.crews.wake()
        return {"kind": kind, "to": [names.get(r.bot_id) for r in recipients]}

    @staticmethod
    async def _members(session: AsyncSession, crew: Crew) -> list[CrewMember]:
        return list((await session.scalars(select(CrewMember).where(
            CrewMember.crew_id == crew.id, CrewMember.left_at.is_(None))
            .order_by(CrewMember.joined_at))).all())

    # Locks.

    async def lock(self, crew_id: str, agent: User, resource: str) -> LockAnswer:
        """Take a named lock (a file, a service) for a member. Held by another member, the
        attempt is refused and recorded; the holder is named."""
        name = text_arg({"resource": resource}, "resource", 300) or ""
        async with self.crews.feed.write() as session:
            crew, _ = await self._live_member(session, crew_id, agent)
            insert = pg_insert if session.get_bind().dialect.name == "postgresql" \
                else sqlite_insert
            taken = await session.scalar(
                insert(CrewLock).values(id=new_id(), crew_id=crew.id, resource=name,
                                        holder_id=agent.id, acquired_at=self.crews.clock())
                .on_conflict_do_nothing().returning(CrewLock.id))
            if taken is not None:
                record(session, crew.id, agent.id, "lock_acquired", f"Lock acquired: {name}",
                       {"resource": name, "holder": agent.id})
                return LockAnswer(True, name, f"@{agent.username}")
            holder_id = await session.scalar(select(CrewLock.holder_id).where(
                CrewLock.crew_id == crew.id, CrewLock.resource == name))
            holder = (await handles(session, crew.house_id, {holder_id})).get(
                holder_id or "", "another member")
            if holder_id == agent.id:
                return LockAnswer(True, name, holder)
            record(session, crew.id, agent.id, "lock_denied",
                   f"Lock denied: {name} (held by {holder})",
                   {"resource": name, "holder": holder_id})
        return LockAnswer(False, name, holder)

    async def unlock(self, crew_id: str, by: User, resource: str) -> dict[str, Any]:
        """Release a lock: its holder, or (for a member that is stuck) the crew's managers."""
        name = text_arg({"resource": resource}, "resource", 300) or ""
        async with self.crews.feed.write() as session:
            crew, access = await self.crews.load(session, crew_id, by.id, Action.POST)
            self.crews.active(crew)
            lock = await session.scalar(select(CrewLock).where(
                CrewLock.crew_id == crew.id, CrewLock.resource == name))
            if lock is None:
                raise NotFound(f"nobody holds a lock on {name}")
            if lock.holder_id != by.id and not self.crews.manages(crew, access):
                holder = (await handles(session, crew.house_id, {lock.holder_id})).get(
                    lock.holder_id, "another member")
                raise Forbidden(f"{name} is locked by {holder}; only its holder, the one who "
                                "started the crew, or a house admin may release it")
            await self.crews.release(session, crew, lock, "released" if lock.holder_id == by.id
                                     else f"released by @{by.username}")
        return {"resource": name, "released": True}

    async def locks(self, crew_id: str, viewer_id: str) -> list[dict[str, Any]]:
        """The locks held now."""
        async with self.crews.db.read() as session:
            crew, _ = await self.crews.load(session, crew_id, viewer_id)
            rows = (await session.scalars(select(CrewLock).where(CrewLock.crew_id == crew.id)
                                          .order_by(CrewLock.resource))).all()
            names = await handles(session, crew.house_id, {r.holder_id for r in rows})
        return [lock_view(r, names) for r in rows]

    # The feed.

    async def feed(self, crew_id: str, viewer_id: str, *, kinds: list[str] | None = None,
                   before: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """The crew's events, newest first; `before` (an event id) pages back."""
        for kind in kinds or []:
            if kind not in KINDS:
                raise InvalidInput(f"kind {kind!r} is not a crew event; kinds: "
                                   + ", ".join(KINDS))
        async with self.crews.db.read() as session:
            crew, _ = await self.crews.load(session, crew_id, viewer_id)
            query = select(CrewActivity).where(CrewActivity.crew_id == crew.id)
            if kinds:
                query = query.where(CrewActivity.kind.in_(kinds))
            if before is not None:
                query = query.where(CrewActivity.id < before)
            rows = (await session.scalars(query.order_by(
                CrewActivity.id.desc()).limit(max(1, min(limit, FEED_LIMIT))))).all()
            names = await handles(session, crew.house_id, {r.actor_id for r in rows})
        return [activity_view(r, names) for r in rows]

