"""Sub-agents as the tools, commands and API use them: spawn, list, read, wait, kill; and
the background work that follows a child's end (room announcements, archiving)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from shoal.agents.config import load_config
from shoal.errors import Conflict, Forbidden, InvalidInput, NotFound, ShoalError
from shoal.rooms.access import RANK, Action, authorize_room, room_access
from shoal.runs.tables import LIVE_STATUSES as LIVE_RUN
from shoal.runs.tables import Run, RunEvent
from shoal.runs.views import event_view
from shoal.store.tables import Activation, User, iso, utcnow
from shoal.subagents.lifecycle import (
    SUBAGENT,
    SpawnRequest,
    kill_child,
    kill_children_of,
    requester_of,
    result_text,
    spawn,
)
from shoal.subagents.tables import LIVE_STATES, STATES, Subagent

if TYPE_CHECKING:
    from shoal.rooms.chat import Chat
    from shoal.runs.service import RunService
    from shoal.store import Database

log = logging.getLogger("shoal.subagents")
MAX_WAIT_SECONDS = 120
LIST_LIMIT = 100


def subagent_view(sub: Subagent, names: dict[str, str] | None = None) -> dict[str, Any]:
    """A child as the API and tools show it."""
    names = names or {}
    return {
        "id": sub.id, "session": sub.session_key, "state": sub.state, "task": sub.task,
        "label": sub.label, "room_id": sub.room_id, "house_id": sub.house_id,
        "parent_agent_id": sub.parent_bot_id, "parent": names.get(sub.parent_bot_id),
        "agent_id": sub.child_bot_id, "agent": names.get(sub.child_bot_id),
        "parent_activation_id": sub.parent_activation_id, "activation_id": sub.activation_id,
        "model": sub.model, "announce": sub.announce, "cleanup": sub.cleanup,
        "run_timeout_seconds": sub.run_timeout_seconds, "result": sub.result,
        "error": sub.error, "input_tokens": sub.input_tokens,
        "output_tokens": sub.output_tokens, "created_at": iso(sub.created_at),
        "started_at": iso(sub.started_at), "ended_at": iso(sub.ended_at),
        "archived": sub.archived_at is not None,
    }


class SubagentService:
    """Spawning and controlling sub-agents; `wake` tells the worker new work is waiting."""

    def __init__(self, db: Database, chat: Chat, runs: RunService, *, wake: Callable[[], None],
                 cancel: Callable[[str], bool], sweep_seconds: float = 5.0,
                 clock: Callable[[], datetime] = utcnow) -> None:
        """`cancel` stops an activation if this process's worker runs it."""
        self.db = db
        self.chat = chat
        self.runs = runs
        self.wake = wake
        self.cancel = cancel
        self.clock = clock
        self.sweep_seconds = sweep_seconds
        self._sweeper: asyncio.Task[None] | None = None

    async def spawn_from_activation(self, bot: User, activation_id: str, raw: dict[str, Any]
                                    ) -> Subagent:
        """A builtin agent's `sessions_spawn` during one of its activations."""
        request = SpawnRequest.parse(raw)
        async with self.db.write() as session:
            parent_activation = await session.get(Activation, activation_id)
            if parent_activation is None:
                raise NotFound("the activation spawning this sub-agent is gone")
            sub = await spawn(session, bot, parent_activation.house_id,
                              parent_activation.room_id, request,
                              parent_activation=parent_activation,
                              requested_by=await requester_of(session, parent_activation),
                              now=self.clock())
        self.wake()
        return sub

    async def spawn_from_agent(self, bot: User, room_id: str, raw: dict[str, Any]) -> Subagent:
        """An SDK (or any) agent spawns through the API with its own token. It hears the end
        by polling or waiting on the child (announce `none`, the default) or in the room."""
        if bot.kind != "bot":
            raise Forbidden("only agents spawn sub-agents; mention an agent and ask it to")
        request = SpawnRequest.parse(raw, announce="none")
        if request.announce == "parent":
            raise InvalidInput("announce parent needs a builtin parent's activation; an agent "
                               "spawning through the API waits on the sub-agent (GET "
                               "/api/subagents/{id}) or uses announce room or none")
        async with self.db.write() as session:
            access = await authorize_room(session, bot.id, room_id, Action.POST)
            sub = await spawn(session, bot, access.house_id, room_id, request,
                              parent_activation=None, requested_by=None, now=self.clock())
        self.wake()
        return sub

    async def get(self, sub_id: str, viewer_id: str) -> Subagent:
        """A child whose room the viewer may read, or NotFound."""
        async with self.db.read() as session:
            sub = await session.get(Subagent, sub_id)
            if sub is None:
                raise NotFound("sub-agent not found")
            await authorize_room(session, viewer_id, sub.room_id, Action.READ)
            return sub

    async def view(self, sub: Subagent, *, transcript: bool = False) -> dict[str, Any]:
        """The child as shown, with names, and (asked) its run's transcript and tool turns."""
        async with self.db.read() as session:
            names = await _names(session, [sub])
            view = subagent_view(sub, names)
            if transcript:
                activation = await session.get(Activation, sub.activation_id) \
                    if sub.activation_id else None
                run = await session.scalar(select(Run).where(
                    Run.activation_id == sub.activation_id)) if sub.activation_id else None
                events = [] if run is None else [event_view(e) for e in await session.scalars(
                    select(RunEvent).where(RunEvent.run_id == run.id).order_by(RunEvent.seq))]
                payload = activation.payload if activation is not None else {}
                view["transcript"] = {"run_id": run.id if run else None, "events": events,
                                      "tool_turns": (payload or {}).get("tool_turns", []),
                                      "output": (payload or {}).get("output")}
        return view

    async def list_room(self, room_id: str, viewer_id: str, *, state: str | None = None,
                        archived: bool = False) -> list[dict[str, Any]]:
        """A room's children, newest first; archived ones only when asked."""
        if state is not None and state not in STATES:
            raise InvalidInput(f"state must be one of {', '.join(STATES)}")
        async with self.db.read() as session:
            await authorize_room(session, viewer_id, room_id, Action.READ)
            query = select(Subagent).where(Subagent.room_id == room_id)
            if state is not None:
                query = query.where(Subagent.state == state)
            if not archived:
                query = query.where(Subagent.archived_at.is_(None))
            rows = list((await session.scalars(query.order_by(
                Subagent.created_at.desc(), Subagent.id.desc()).limit(LIST_LIMIT))).all())
            names = await _names(session, rows)
        return [subagent_view(r, names) for r in rows]

    async def list_for_parent(self, bot_id: str, room_id: str) -> list[dict[str, Any]]:
        """An agent's own children in a room that are not archived, newest first."""
        async with self.db.read() as session:
            rows = list((await session.scalars(select(Subagent).where(
                Subagent.parent_bot_id == bot_id, Subagent.room_id == room_id,
                Subagent.archived_at.is_(None)).order_by(Subagent.created_at.desc())
                .limit(LIST_LIMIT))).all())
        return [subagent_view(r) for r in rows]

    async def wait(self, sub: Subagent, timeout: float) -> Subagent:
        """The child once it ended, or as it is when the timeout passes."""
        deadline = asyncio.get_running_loop().time() + min(timeout, MAX_WAIT_SECONDS)
        delay = 0.05
        while True:
            async with self.db.read() as session:
                fresh = await session.get(Subagent, sub.id, populate_existing=True)
            if fresh is None:
                raise NotFound("sub-agent not found")
            if not fresh.live or asyncio.get_running_loop().time() >= deadline:
                return fresh
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def kill(self, sub_id: str, by: User, *, as_parent: bool = False) -> Subagent:
        """Kill a live child: its parent agent (`as_parent`, from its own tools), the parent's
        owner, the person whose message started the parent's work, or a house admin."""
        async with self.db.write() as session:
            sub = await session.get(Subagent, sub_id)
            if sub is None:
                raise NotFound("sub-agent not found")
            access = await room_access(session, by.id, sub.room_id)
            if access.role is None:
                raise NotFound("sub-agent not found")
            parent = await session.get(User, sub.parent_bot_id)
            allowed = (by.id == sub.parent_bot_id if as_parent else
                       by.id == sub.parent_bot_id or by.id == sub.requested_by
                       or (parent is not None and parent.owner_id == by.id)
                       or RANK.get(access.role, -1) >= RANK["admin"])
            if not allowed:
                raise Forbidden("only the parent agent's owner, the person who asked for its "
                                "work, or a house admin may kill this sub-agent")
            if not sub.live:
                raise InvalidInput(f"sub-agent {sub.id} already ended ({sub.state})")
            await kill_child(session, sub, f"killed by @{by.username}", self.clock())
            await session.refresh(sub)
        await self._stop_runs([sub])
        self.wake()
        await self.deliver_room_announcements()
        return sub

    async def _stop_runs(self, killed: list[Subagent]) -> None:
        """Stop killed children that run here now, and end their runs for the watchers."""
        for sub in killed:
            if sub.activation_id is None:
                continue
            self.cancel(sub.activation_id)
            async with self.db.read() as session:
                run_id = await session.scalar(select(Run.id).where(
                    Run.activation_id == sub.activation_id, Run.status.in_(LIVE_RUN)))
            if run_id is not None:
                try:
                    await self.runs.finish(run_id, None, "error",
                                           {"error": sub.error or "killed"}, "interrupted")
                except (Conflict, NotFound):
                    pass  # it ended meanwhile

    async def stop_children(self, parent_activation_id: str) -> list[str]:
        """Kill what an activation spawned, because its own run was stopped."""
        async with self.db.write() as session:
            killed = await kill_children_of(session, parent_activation_id, self.clock())
            subs = [s for s in [await session.get(Subagent, i) for i in killed] if s]
        await self._stop_runs(subs)
        if killed:
            log.info("stopped the %d sub-agents of activation %s with it", len(killed),
                     parent_activation_id)
        return killed

    async def finished(self, row: Activation, outcome: Any) -> None:
        """Told by the worker after each activation's end committed: a child's end may have
        queued a follow-up (wake) or a room announcement (post it); a stopped parent takes
        its children with it."""
        if row.trigger_kind != SUBAGENT:
            if getattr(outcome, "skip_reason", None) == "interrupted":
                await self.stop_children(row.id)
            return
        self.wake()
        await self.deliver_room_announcements()

    async def deliver_room_announcements(self) -> int:
        """Post the room announcements of ended children not yet posted. Each is the child's
        reply to its own activation, which the room stores at most once, so a crash between
        the post and its record here can only repeat the lookup, never the message."""
        async with self.db.read() as session:
            due = list((await session.scalars(select(Subagent).where(
                Subagent.announce == "room", Subagent.state.not_in(LIVE_STATES),
                Subagent.announced_message_id.is_(None)).limit(50))).all())
        posted = 0
        for sub in due:
            try:
                await self._post_to_room(sub)
                posted += 1
            except ShoalError as exc:
                log.warning("the room announcement of sub-agent %s could not be posted: %s",
                            sub.id, exc.message)
                async with self.db.write() as session:
                    # Another sweep may have posted it meanwhile: its record stands.
                    await session.execute(update(Subagent).where(
                        Subagent.id == sub.id, Subagent.announced_message_id.is_(None))
                        .values(announced_message_id="unposted"))
        return posted

    async def _post_to_room(self, sub: Subagent) -> None:
        async with self.db.read() as session:
            child = await session.get(User, sub.child_bot_id)
            run_id = await session.scalar(select(Run.id).where(
                Run.activation_id == sub.parent_activation_id)) \
                if sub.parent_activation_id else None
        if child is None or sub.activation_id is None:
            return
        message = await self.chat.post_reply(
            child, sub.room_id, result_text(sub), activation_id=sub.activation_id,
            metadata={"subagent": {"id": sub.id, "state": sub.state, "label": sub.label,
                                   "parent_agent_id": sub.parent_bot_id,
                                   "parent_activation_id": sub.parent_activation_id,
                                   "parent_run_id": run_id}})
        async with self.db.write() as session:
            row = await session.get(Subagent, sub.id)
            if row is not None:
                row.announced_message_id = message["id"]
                if row.cleanup == "delete":
                    row.archived_at = self.clock()

    async def archive_due(self) -> int:
        """Archive ended children past their parent's `archive_after_minutes` (and those
        with cleanup `delete` once announced): they leave the room's list; their record and
        transcript stay readable."""
        now = self.clock()
        archived = 0
        async with self.db.write() as session:
            rows = (await session.scalars(select(Subagent).where(
                Subagent.archived_at.is_(None), Subagent.state.not_in(LIVE_STATES)))).all()
            configs: dict[str, int] = {}
            for sub in rows:
                if sub.parent_bot_id not in configs:
                    parent = await session.get(User, sub.parent_bot_id)
                    configs[sub.parent_bot_id] = load_config(
                        parent.config if parent else None).subagents.archive_after_minutes
                keep = timedelta(minutes=configs[sub.parent_bot_id])
                ended = sub.ended_at or sub.created_at
                if sub.cleanup == "delete" and sub.announce == "parent" \
                        and sub.announced_activation_id is not None:
                    done = await session.scalar(select(Activation.status).where(
                        Activation.id == sub.announced_activation_id))
                    if done == "done":
                        sub.archived_at, archived = now, archived + 1
                        continue
                if ended + keep <= now:
                    sub.archived_at, archived = now, archived + 1
        return archived

    async def sweep(self) -> None:
        """Deliver what a crash left undelivered and archive what is due."""
        await self.deliver_room_announcements()
        await self.archive_due()

    async def start_sweeping(self) -> None:
        """Sweep now and then for the rest of the process's life."""
        async def loop() -> None:
            while True:
                try:
                    await self.sweep()
                except Exception:
                    log.exception("sub-agent sweep failed")
                await asyncio.sleep(self.sweep_seconds)

        self._sweeper = asyncio.create_task(loop(), name="shoal-subagent-sweep")

    async def stop(self) -> None:
        """Stop sweeping."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)


async def _names(session: Any, rows: list[Subagent]) -> dict[str, str]:
    ids = {r.parent_bot_id for r in rows} | {r.child_bot_id for r in rows}
    if not ids:
        return {}
    found = await session.execute(select(User.id, User.username).where(User.id.in_(ids)))
    return {i: f"@{u}" for i, u in found}

