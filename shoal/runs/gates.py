"""Permission gates: an agent asks, the right person approves or denies, silence denies."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.errors import Conflict, Forbidden, InvalidInput, NotFound
from shoal.rooms.access import Action, authorize_room
from shoal.runs.tables import LIVE_STATUSES, Run, RunPermission
from shoal.store.tables import House, Message, User, utcnow

if TYPE_CHECKING:
    from shoal.runs.service import Recorded, RunService
    from shoal.store.db import Database

DECISIONS = ("approve", "deny")
DEFAULT_TIMEOUT = 120.0
MAX_TIMEOUT = 86_400.0
POLL_SECONDS = 1.0  # an in-process waiter also looks in the store, for decisions made elsewhere

Key = tuple[str, str]


class PermissionGates:
    """Pending requests of live runs: one timer each, and futures for in-process waiters."""

    def __init__(self, runs: RunService, db: Database) -> None:
        self.runs = runs
        self.db = db
        self._timers: dict[Key, asyncio.Task[None]] = {}
        self._waiters: dict[Key, asyncio.Future[bool]] = {}

    async def request(self, run_id: str, agent: User, permission_id: str, action: str,
                      description: str, timeout: float = DEFAULT_TIMEOUT) -> Recorded:
        """Ask the room to approve an action; the run waits for permission meanwhile."""
        if not 0 < timeout <= MAX_TIMEOUT:
            raise InvalidInput(f"timeout must be more than 0 and at most {MAX_TIMEOUT:.0f} s")
        async with self.runs.ordered(run_id), self.db.write() as session:
            run = await self.runs.own_live_run(session, run_id, agent.id)
            if await session.get(RunPermission, (run_id, permission_id)) is not None:
                raise Conflict("this permissionId was already requested in this run")
            session.add(RunPermission(run_id=run_id, permission_id=permission_id,
                                      action=action, description=description,
                                      requested_at=utcnow(), timeout_seconds=timeout))
            recorded = await self.runs.record(session, run, "permission-request", {
                "permissionId": permission_id, "action": action, "description": description,
                "timeout": timeout}, {"status": "waiting_permission"})
            await self.runs.broadcast(recorded)
        self._timers[(run_id, permission_id)] = asyncio.create_task(
            self._expire_later(run_id, permission_id, timeout))
        return recorded

    async def wait(self, run_id: str, permission_id: str) -> bool:
        """Until the request is decided (here or by another process): whether it was approved."""
        key = (run_id, permission_id)
        future = self._waiters.setdefault(key, asyncio.get_running_loop().create_future())
        try:
            while True:
                try:
                    return await asyncio.wait_for(asyncio.shield(future), POLL_SECONDS)
                except TimeoutError:
                    async with self.db.read() as session:
                        row = await session.get(RunPermission, key)
                    if row is None or row.decision is not None:
                        return row is not None and row.decision == "approve"
        finally:
            self._waiters.pop(key, None)

    async def decide(self, run_id: str, permission_id: str, decider: User | None,
                     decision: str, message: str | None = None) -> dict[str, Any]:
        """Record a decision (decider None: the request timed out) and tell the agent."""
        if decision not in DECISIONS:
            raise InvalidInput("decision must be approve or deny")
        async with self.runs.ordered(run_id), self.db.write() as session:
            run = await session.get(Run, run_id, populate_existing=True)
            if run is None:
                raise NotFound("run not found")
            if decider is not None:
                await self._check_decider(session, run, decider)
            row = await session.get(RunPermission, (run_id, permission_id),
                                    populate_existing=True)
            if row is None:
                raise NotFound("permission request not found")
            if row.decision is not None:
                raise Conflict(f"this request was already decided ({row.decision})")
            if run.status not in LIVE_STATUSES:
                raise Conflict(f"this run has ended ({run.status})")
            row.decision, row.message, row.decided_at = decision, message, utcnow()
            row.decided_by = decider.id if decider else None
            await session.flush()
            pending = await session.scalar(
                select(func.count()).select_from(RunPermission)
                .where(RunPermission.run_id == run_id, RunPermission.decision.is_(None)))
            data: dict[str, Any] = {
                "permissionId": permission_id, "decision": decision, "message": message,
                "decidedBy": {"id": decider.id, "username": decider.username}
                if decider else None, "timedOut": decider is None}
            recorded = await self.runs.record(
                session, run, "permission-response", data,
                {"status": "waiting_permission" if pending else "running"})
            await self.runs.broadcast(recorded, to_agent=True)
        timer = self._timers.pop((run_id, permission_id), None)
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()
        waiter = self._waiters.get((run_id, permission_id))
        if waiter is not None and not waiter.done():
            waiter.set_result(decision == "approve")
        return {"ok": True, "runId": run_id, "permissionId": permission_id,
                "decision": decision, "seq": recorded.seq}

    async def _check_decider(self, session: AsyncSession, run: Run, user: User) -> None:
        """The run's initiator decides; house admins too when the house allows it, or when
        no person triggered the run. Bots, the run's agent included, never decide."""
        access = await authorize_room(session, user.id, run.room_id, Action.READ)
        if user.kind == "bot":
            raise Forbidden("bots may not decide permission requests")
        initiator = None
        if run.trigger_message_id:
            initiator = await session.scalar(
                select(User.id).join(Message, Message.sender_id == User.id)
                .where(Message.id == run.trigger_message_id, Message.room_id == run.room_id,
                       User.kind != "bot"))
        if user.id == initiator:
            return
        house = await session.get(House, run.house_id)
        mode = (house.settings if house else {}).get("run_permission_deciders", "initiator")
        if (mode == "initiator_or_admins" or initiator is None) \
                and access.allows(Action.MODERATE):
            return
        raise Forbidden("you may not decide this request: only the person who triggered the "
                        "run may" + (", or a house admin" if mode == "initiator_or_admins"
                                     else ""))

    async def _expire_later(self, run_id: str, permission_id: str, timeout: float) -> None:
        await asyncio.sleep(timeout)
        self._timers.pop((run_id, permission_id), None)
        await self._deny_unanswered(run_id, permission_id)

    async def _deny_unanswered(self, run_id: str, permission_id: str) -> None:
        try:
            await self.decide(run_id, permission_id, None, "deny",
                              "no answer within the request's timeout")
        except (Conflict, NotFound):
            pass  # decided, or the run ended, meanwhile

    async def expire(self, now: datetime | None = None, run_id: str | None = None) -> None:
        """Deny every request past its timeout (timers die with their process; this doesn't)."""
        now = now or utcnow()
        query = select(RunPermission).join(Run, Run.id == RunPermission.run_id).where(
            RunPermission.decision.is_(None), Run.status.in_(LIVE_STATUSES))
        if run_id is not None:
            query = query.where(RunPermission.run_id == run_id)
        async with self.db.read() as session:
            rows = list(await session.scalars(query))
        for row in rows:
            if row.requested_at + timedelta(seconds=row.timeout_seconds) <= now:
                await self._deny_unanswered(row.run_id, row.permission_id)

    def forget(self, run_id: str) -> None:
        """A run ended: its timers stop and in-process waiters get a deny."""
        for key in [k for k in self._timers if k[0] == run_id]:
            self._timers.pop(key).cancel()
        for key in [k for k in self._waiters if k[0] == run_id]:
            if not self._waiters[key].done():
                self._waiters[key].set_result(False)

    def close(self) -> None:
        """Cancel every timer (the process is stopping; `expire` picks the requests up)."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
