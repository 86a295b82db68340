"""Runs: accept an agent's run events, keep the transcript, tell the room."""

from __future__ import annotations

import asyncio
import logging
import re
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shoal import metrics
from shoal.errors import Conflict, Forbidden, InvalidInput, NotFound
from shoal.ids import new_id
from shoal.logs import log_context
from shoal.rooms.access import Action, authorize_room
from shoal.runs.gates import PermissionGates
from shoal.runs.streams import StreamRelay
from shoal.runs.tables import LIVE_STATUSES, Run, RunEvent
from shoal.runs.views import WIRE_EVENTS, elapsed_ms, event_view, wire_payload
from shoal.store.tables import User, utcnow

if TYPE_CHECKING:
    from shoal.realtime.gateway import Gateway
    from shoal.rooms.chat import Chat
    from shoal.store.db import Database

log = logging.getLogger("shoal.runs")
RUN_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
MAX_EVENTS = 500
INTERRUPT_ACTIONS = ("stop", "adjust")
Event = tuple[str, dict[str, Any], datetime]  # type, data, when it happened


@dataclass(frozen=True)
class Recorded:
    """An event as stored: its run (after the change) and its wire payload."""

    run: Run
    type: str
    seq: int
    payload: dict[str, Any]


class RunService:
    """Every run event, whether from an SDK agent's socket, the REST API or the builtin
    runtime, is checked, stored with its seq and broadcast here."""

    def __init__(self, db: Database, gateway: Gateway, chat: Chat, *, sweep_seconds: float,
                 disconnect_grace_seconds: float, time_limit_seconds: float) -> None:
        """Events are stored in `db` and told through `gateway`; a stream's final content
        is posted through `chat`. The sweep ends runs whose agent left for longer than the
        grace, or that outlived their time limit."""
        self.db = db
        self.gateway = gateway
        self._sweep_seconds = sweep_seconds
        self._grace = timedelta(seconds=disconnect_grace_seconds)
        self._time_limit = timedelta(seconds=time_limit_seconds)
        self._order: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.streams = StreamRelay(self, db, gateway, chat)
        self.gates = PermissionGates(self, db)
        self._sweeper: asyncio.Task[None] | None = None

    @asynccontextmanager
    async def ordered(self, run_id: str) -> AsyncIterator[None]:
        """Held from reading a run to broadcasting its event, so this process emits a run's
        events in seq order."""
        with log_context(run_id=run_id):
            async with self._order[run_id]:
                yield

    async def start(self, agent: User, room_id: str, *, run_id: str | None = None,
                    trigger_message_id: str | None = None, name: str = "",
                    description: str = "", activation_id: str | None = None,
                    extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Open a run for an agent that may post in the room; a repeated start of the
        agent's own run answers the run as it is. `extra` goes into the start event (a
        sub-agent's run names its parent's run there)."""
        run_id = run_id or new_id()
        if not RUN_ID.fullmatch(run_id):
            raise InvalidInput("runId must be 1-64 letters, digits or _.:-")
        async with self.ordered(run_id), self.db.write() as session:
            existing = await session.get(Run, run_id)
            if existing is not None:
                if existing.agent_id != agent.id or existing.room_id != room_id:
                    raise Conflict("this runId is already taken")
                return {"ok": True, "runId": run_id, "seq": existing.last_seq}
            access = await authorize_room(session, agent.id, room_id, Action.POST)
            now = utcnow()
            run = Run(id=run_id, agent_id=agent.id, room_id=room_id, house_id=access.house_id,
                      trigger_message_id=trigger_message_id, activation_id=activation_id,
                      name=name, description=description, status="running", last_seq=0,
                      started_at=now, last_seen_at=now, stop_requested=False)
            session.add(run)
            await session.flush()
            recorded = await self._store(session, run, "start", {
                "agentId": agent.id, "username": agent.username,
                "displayName": agent.display_name, "triggerMessageId": trigger_message_id,
                "name": name, "description": description, **(extra or {})})
            await self.broadcast(recorded)
        return {"ok": True, "runId": run_id, "seq": recorded.seq}

    async def add(self, run_id: str, agent_id: str, type: str, data: dict[str, Any]
                  ) -> Recorded:
        """Append an event from the run's own agent to a live run."""
        async with self.ordered(run_id), self.db.write() as session:
            run = await self.own_live_run(session, run_id, agent_id)
            recorded = await self._store(session, run, type, data)
            await self.broadcast(recorded)
            return recorded

    async def add_many(self, run_id: str, agent_id: str, events: list[Event]) -> None:
        """Append several events from the run's own agent in one transaction, in order, each
        timed when it happened (the builtin runtime's tool cards, written behind the calls)."""
        async with self.ordered(run_id), self.db.write() as session:
            run = await self.own_live_run(session, run_id, agent_id)
            recorded = await self._store_many(session, run, events)
        for each in recorded:
            await self.broadcast(each)

    async def finish(self, run_id: str, agent_id: str | None, type: str,
                     data: dict[str, Any], status: str) -> Recorded:
        """End a live run (by its agent, or by Shoal when agent_id is None) with its last
        event; a run someone asked to stop ends as interrupted."""
        async with self.ordered(run_id), self.db.write() as session:
            run = await self.own_live_run(session, run_id, agent_id)
            if run.stop_requested and status in ("completed", "error"):
                status = "interrupted"
            changes: dict[str, Any] = {"status": status, "ended_at": utcnow()}
            if type == "complete":
                changes["summary"] = data.get("summary")
            else:
                changes["error"] = data.get("error")
            recorded = await self._store(session, run, type, data, changes)
            await self.broadcast(recorded)
        self.streams.forget(run_id)
        self.gates.forget(run_id)
        self._order.pop(run_id, None)
        return recorded

    async def own_live_run(self, session: AsyncSession, run_id: str, agent_id: str | None
                           ) -> Run:
        """The run, if it is still live and (when agent_id is given) that agent's own."""
        run = await session.get(Run, run_id, populate_existing=True)
        if run is None:
            raise NotFound("run not found")
        if agent_id is not None and run.agent_id != agent_id:
            raise Forbidden("you may not add to this run: only the agent that started it may")
        if run.status not in LIVE_STATUSES:
            raise Conflict(f"this run has ended ({run.status})")
        return run

    async def _store(self, session: AsyncSession, run: Run, type: str, data: dict[str, Any],
                     changes: dict[str, Any] | None = None) -> Recorded:
        return (await self._store_many(session, run, [(type, data, utcnow())], changes))[0]

    async def _store_many(self, session: AsyncSession, run: Run,
                          events: list[Event], changes: dict[str, Any] | None = None
                          ) -> list[Recorded]:
        """Give the events the run's next seqs (the row's counter, so every process agrees)
        and insert them."""
        now = utcnow()
        last = await session.scalar(
            update(Run).where(Run.id == run.id)
            .values(last_seq=Run.last_seq + len(events), last_seen_at=now, **(changes or {}))
            .returning(Run.last_seq))
        assert last is not None
        await session.refresh(run)
        first = last - len(events) + 1
        stored = [(type, first + i, elapsed_ms(run.started_at, at), data)
                  for i, (type, data, at) in enumerate(events)]
        for type, *_ in stored:
            metrics.run_events.labels(type).inc()
        await session.execute(insert(RunEvent), [
            {"run_id": run.id, "seq": seq, "type": type, "t_ms": t_ms, "data": data}
            for type, seq, t_ms, data in stored])
        return [Recorded(run, type, seq, wire_payload(run, seq, t_ms, data))
                for type, seq, t_ms, data in stored]

    async def record(self, session: AsyncSession, run: Run, type: str, data: dict[str, Any],
                     changes: dict[str, Any] | None = None) -> Recorded:
        """Store an event inside the caller's transaction (and under `ordered`)."""
        return await self._store(session, run, type, data, changes)

    async def broadcast(self, recorded: Recorded, *, to_agent: bool = False) -> None:
        """Send a stored event to the room (and to the agent's sockets, once)."""
        run = recorded.run
        event = WIRE_EVENTS[recorded.type]
        if to_agent:
            await self.gateway.emit_room_and_user(run.room_id, run.agent_id, event,
                                                        recorded.payload)
        else:
            await self.gateway.emit_room(run.room_id, event, recorded.payload)

    async def interrupt(self, run_id: str, user: User, action: str, message: str | None = None
                        ) -> dict[str, Any]:
        """Someone who may post in the run's room stops it or adjusts it with a message."""
        if action not in INTERRUPT_ACTIONS:
            raise InvalidInput("action must be stop or adjust")
        if action == "adjust" and not message:
            raise InvalidInput("adjust needs a message")
        async with self.ordered(run_id), self.db.write() as session:
            run = await session.get(Run, run_id, populate_existing=True)
            if run is None:
                raise NotFound("run not found")
            await authorize_room(session, user.id, run.room_id, Action.POST)
            if run.agent_id == user.id:
                raise Forbidden("an agent may not interrupt its own run")
            run = await self.own_live_run(session, run_id, None)
            recorded = await self._store(session, run, "interrupt", {
                "action": action, "message": message,
                "by": {"id": user.id, "username": user.username}},
                {"stop_requested": True} if action == "stop" else None)
            await self.broadcast(recorded, to_agent=True)
        return {"ok": True, "runId": run_id, "action": action, "seq": recorded.seq}

    async def interrupts_after(self, run_id: str, after_seq: int) -> list[dict[str, Any]]:
        """Interrupts since a seq, for in-process agents that look at model boundaries."""
        async with self.db.read() as session:
            rows = await session.scalars(
                select(RunEvent).where(RunEvent.run_id == run_id, RunEvent.seq > after_seq,
                                       RunEvent.type == "interrupt").order_by(RunEvent.seq))
            return [event_view(e) for e in rows]

    async def get(self, session: AsyncSession, run_id: str, viewer_id: str) -> Run:
        """A run the viewer may read (READ on its room), or NotFound."""
        run = await session.get(Run, run_id)
        if run is None:
            raise NotFound("run not found")
        await authorize_room(session, viewer_id, run.room_id, Action.READ)
        return run

    async def events_after(self, session: AsyncSession, run_id: str, after_seq: int,
                           limit: int = MAX_EVENTS) -> list[dict[str, Any]]:
        """Transcript entries after a seq, oldest first: what a reconnecting client missed."""
        rows = await session.scalars(
            select(RunEvent).where(RunEvent.run_id == run_id, RunEvent.seq > after_seq)
            .order_by(RunEvent.seq).limit(limit))
        return [event_view(e) for e in rows]

    async def start_sweeping(self) -> None:
        """Sweep now and then for the rest of the process's life."""
        async def loop() -> None:
            while True:
                await asyncio.sleep(self._sweep_seconds)
                try:
                    await self.sweep()
                except Exception:
                    log.exception("run sweep failed")

        self._sweeper = asyncio.create_task(loop(), name="shoal-run-sweep")

    async def stop(self) -> None:
        """Stop sweeping and drop pending timers."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
        self.gates.close()

    async def sweep(self, now: datetime | None = None) -> None:
        """Keep runs of agents connected here alive, decide expired permission requests as
        deny, and end runs whose agent left beyond the grace period or whose time is up."""
        now = now or utcnow()
        online = self.gateway.online_users()
        async with self.db.write() as session:
            if online:
                await session.execute(
                    update(Run).where(Run.status.in_(LIVE_STATUSES), Run.agent_id.in_(online))
                    .values(last_seen_at=now))
            runs = list(await session.scalars(select(Run).where(Run.status.in_(LIVE_STATUSES))))
        await self.gates.expire(now)
        for run in runs:
            if run.started_at + self._time_limit < now:
                await self._end_quietly(run.id, "timed_out",
                                        "the run passed its time limit without ending")
            elif run.activation_id is None and run.last_seen_at + self._grace < now:
                # Builtin runs have no socket; the worker's lease covers them.
                await self._end_quietly(run.id, "error",
                                        "the agent disconnected and did not come back")

    async def _end_quietly(self, run_id: str, status: str, error: str) -> None:
        try:
            await self.finish(run_id, None, "error", {"error": error}, status)
        except (Conflict, NotFound):
            pass  # another process ended it first
