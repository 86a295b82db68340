"""The worker: claims activations from the table and runs them.

Claims are leases, short and renewed while the run lasts: a worker that dies leaves a lease
that expires within seconds, and another worker retries the activation once, then marks it as
an error. Only the lease holder may post the reply or record the outcome (fencing). At most one
activation per bot runs at a time (a partial unique index enforces it across processes); a
per-process limit (`worker_concurrency`) bounds how many run at once. Sub-agents (kind
`subagent`) are the exception: an agent's children run beside it and each other, as many as
their lane admits (see shoal.subagents.lifecycle.admit).

A worker that is stopped (SIGTERM) drains: it claims nothing more, lets running activations
finish for `shutdown_grace_seconds`, then cancels the rest and hands them back, releasing
their leases so another worker starts them at once instead of after a lease's wait.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, bindparam, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from shoal import metrics
from shoal.agents.config import load_config
from shoal.dispatch.gates import (
    judged_relevant,
    recent_messages,
    spoke_recently,
    tokens_used_since,
)
from shoal.errors import LeaseLost
from shoal.ids import new_id
from shoal.logs import log_context
from shoal.realtime.delivery import WAITING
from shoal.rooms.messages import message_with_sender
from shoal.runtime.activations import prune_activations
from shoal.runtime.base import ActivationContext, Outcome, Runtime
from shoal.store.tables import Activation, House, Message, Room, User, utcnow
from shoal.subagents.lifecycle import (
    RESULT,
    SUBAGENT,
    admit,
    budget_holder,
    end_child,
    tokens_of_children,
)

if TYPE_CHECKING:
    from shoal.config import Settings
    from shoal.llm import ModelRouter
    from shoal.realtime.gateway import Gateway
    from shoal.rooms.chat import Chat
    from shoal.store import Database

log = logging.getLogger("shoal.runtime")
MAX_ATTEMPTS = 2  # the first run and one retry after a lost lease
PRUNE_EVERY = timedelta(hours=1)
COLLECTED = "collected_triggers"  # kept in a handed-back activation's payload

# What a worker may claim, prepared once (building it, with its cache key, cost milliseconds
# a poll): the oldest runnable activations (`now`), up to `limit`, one per bot and only for
# bots not already running one; sub-agents' children are admitted by their lanes instead.
_BUSY, _OLDER = aliased(Activation), aliased(Activation)
_RUNNABLE = (
    select(Activation)
    .where(Activation.status == "pending", Activation.available_at <= bindparam("now"),
           or_(Activation.trigger_kind == SUBAGENT, and_(
               ~exists().where(_BUSY.bot_id == Activation.bot_id,
                               _BUSY.status == "running",
                               _BUSY.trigger_kind != SUBAGENT),
               # Only a bot's oldest: another worker may hold its older rows locked
               # (skipped here) without taking them, and a bot answers in order.
               ~exists().where(_OLDER.bot_id == Activation.bot_id,
                               _OLDER.status == "pending",
                               _OLDER.trigger_kind != SUBAGENT,
                               _OLDER.available_at <= bindparam("now"),
                               or_(_OLDER.created_at < Activation.created_at,
                                   and_(_OLDER.created_at == Activation.created_at,
                                        _OLDER.id < Activation.id))))))
    .order_by(Activation.created_at, Activation.id).limit(bindparam("limit"))
)
_RUNNABLE_LOCKED = _RUNNABLE.with_for_update(skip_locked=True)  # PostgreSQL


class Worker:
    """Runs activations in this process; any number of workers may share a database."""

    def __init__(self, db: Database, settings: Settings, runtimes: dict[str, Runtime], *,
                 chat: Chat, gateway: Gateway, models: Callable[[], ModelRouter],
                 lease: timedelta | None = None, renew_seconds: float | None = None,
                 poll_seconds: float = 1.0, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.settings = settings
        self.runtimes = runtimes
        self.chat = chat  # an activation's reply goes to the chat, its status to the gateway
        self.gateway = gateway
        self.models = models  # asked at each relevance question: the router is built at start
        self.concurrency = settings.worker_concurrency
        self.lease = lease or timedelta(seconds=settings.worker_lease_seconds)
        # Also how often expired leases are looked for.
        self.renew_seconds = renew_seconds or settings.worker_lease_renew_seconds
        self.poll_seconds = poll_seconds
        self.clock = clock
        self.name = lease_owner_name()
        self.running: dict[str, ActivationContext] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._held: dict[str, list[str]] = {}  # claimed, not finished: id -> collected triggers
        self._task_of: dict[str, asyncio.Task[None]] = {}  # by activation id
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        self._stopping = False
        # One tick at a time: a claim and the task that runs it appear together.
        self._ticking = asyncio.Lock()
        self._pruned_at: datetime | None = None
        self._recovered_at: datetime | None = None
        # Told of every finished activation (a cron job records its run's outcome).
        self.on_finish: list[Callable[[Activation, Outcome], Awaitable[None]]] = []

    def wake(self) -> None:
        """New work may be runnable: look now rather than at the next poll."""
        self._wake.set()

    def _forget_task(self, activation_id: str, _task: asyncio.Task[None]) -> None:
        self._task_of.pop(activation_id, None)

    def cancel(self, activation_id: str) -> bool:
        """Stop an activation running here at once (a killed sub-agent, whose end is already
        recorded); False when it does not run in this worker."""
        task = self._task_of.get(activation_id)
        if task is None or task.done():
            return False
        task.cancel()
        return True

    async def start(self) -> None:
        """Start claiming in the background."""
        self._stopping = False
        self._loop = asyncio.create_task(self._run(), name="shoal-worker")

    async def stop(self, grace: float | None = None) -> None:
        """Drain: stop claiming, give running activations `grace` seconds (by default
        `shutdown_grace_seconds`) to finish, then cancel the rest and hand them back."""
        grace = self.settings.shutdown_grace_seconds if grace is None else grace
        if self._loop is not None:  # it ends after its current round, claiming no more
            self._stopping = True
            self._wake.set()
            await asyncio.gather(self._loop, return_exceptions=True)
            self._loop = None
        if self._tasks and grace > 0:
            log.info("worker %s stopping: waiting up to %g s for %d running activations",
                     self.name, grace, len(self._tasks))
            await asyncio.wait(set(self._tasks), timeout=grace)
        tasks = set(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._held:
            await self._hand_back(dict(self._held))

    async def _hand_back(self, held: dict[str, list[str]]) -> None:
        """Release the leases of activations cancelled at shutdown: they wait again, keeping
        their place in line and the triggers they collected, and the attempt does not count."""
        now = self.clock()
        query = select(Activation).where(Activation.id.in_(list(held)),
                                         Activation.status == "running",
                                         Activation.lease_owner == self.name)
        if not self.db.is_sqlite:
            query = query.with_for_update()
        try:
            async with self.db.write() as session:
                for row in (await session.scalars(query)).all():
                    row.status, row.lease_owner, row.lease_expires_at = "pending", None, None
                    row.attempts = max(0, row.attempts - 1)
                    row.payload = {**(row.payload or {}), COLLECTED: held[row.id],
                                   "handed_back": {"by": self.name, "at": now.isoformat()}}
                    log.info("worker %s stopping: handed activation %s back", self.name, row.id)
        except Exception:  # their leases expire instead: another worker still takes them
            log.exception("worker %s could not hand back %d activations", self.name, len(held))
        self._held.clear()

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self.tick()
            except Exception:
                log.exception("worker tick failed")
            if self._stopping:
                return
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            except TimeoutError:
                pass
            self._wake.clear()

    async def tick(self) -> int:
        """One round: recover expired leases, interrupt runs that newer triggers replace,
        and start what can run. Returns how many activations it started."""
        async with self._ticking:
            return await self._tick()

    async def _tick(self) -> int:
        now = self.clock()
        if (self._recovered_at is None
                or now - self._recovered_at >= timedelta(seconds=self.renew_seconds)):
            self._recovered_at = now
            await self._recover_expired()
            await self._prune_old()
            await self._count_queue(now)
        await self._interrupt_superseded()
        free = self.concurrency - len(self._tasks)
        claimed = await self._claim(free) if free > 0 else []
        for row, collected in claimed:
            self._held[row.id] = collected
            task = asyncio.create_task(self._execute(row, collected))
            self._tasks.add(task)
            self._task_of[row.id] = task
            task.add_done_callback(self._tasks.discard)
            task.add_done_callback(partial(self._forget_task, row.id))
        return len(claimed)

    async def drain(self, timeout: float = 30.0) -> None:
        """Run until nothing is runnable or running (for tests, benchmarks and shutdown),
        starting with a look for expired leases."""
        self._recovered_at = None
        async with asyncio.timeout(timeout):
            while True:
                await self.tick()
                if self._tasks:
                    await asyncio.wait(set(self._tasks), return_when=asyncio.FIRST_COMPLETED)
                    continue
                if not await self._has_runnable():
                    return
                await asyncio.sleep(0.01)

    async def _has_runnable(self) -> bool:
        async with self.db.read() as session:
            return bool(await session.scalar(select(exists().where(
                Activation.status == "pending", Activation.available_at <= self.clock()))))

    async def _recover_expired(self) -> None:
        """Leases that ran out belong to a worker that died or stalled: retry once, then give
        up. Each takeover is logged and kept in the activation's payload (`lease_expired`)."""
        now = self.clock()
        query = (select(Activation)
                 .where(Activation.status == "running", Activation.lease_expires_at < now)
                 .order_by(Activation.created_at, Activation.id))
        if not self.db.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        async with self.db.write() as session:
            for row in (await session.scalars(query)).all():
                metrics.lease_expiries.inc()
                log.warning("the lease of activation %s held by %s expired at %s; %s",
                            row.id, row.lease_owner, row.lease_expires_at,
                            "retrying it" if row.attempts < MAX_ATTEMPTS else "giving up")
                row.payload = {**(row.payload or {}), "lease_expired": {
                    "owner": row.lease_owner, "at": now.isoformat()}}
                if row.attempts >= MAX_ATTEMPTS:
                    row.status, row.outcome, row.finished_at = "done", "error", now
                    row.error = "the worker running it stopped twice"
                    if row.trigger_kind == SUBAGENT:
                        await end_child(session, row, outcome="error", skip_reason=None,
                                        error=row.error, input_tokens=row.input_tokens,
                                        output_tokens=row.output_tokens, now=now)
                else:
                    row.status = "pending"
                row.lease_owner, row.lease_expires_at = None, None

    async def _count_queue(self, now: datetime) -> None:
        """The queue-depth gauge: activations due and waiting, counted once per lease-renewal
        period (not on any request's path)."""
        async with self.db.read() as session:
            depth = await session.scalar(select(func.count()).select_from(Activation).where(
                Activation.status == "pending", Activation.available_at <= now))
        metrics.activation_queue_depth.set(depth or 0)

    async def _prune_old(self) -> None:
        """Forget finished activations past the retention period, once an hour."""
        now = self.clock()
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = now
        days = self.settings.activation_retention_days
        pruned = await prune_activations(self.db, timedelta(days=days))
        if pruned:
            log.info("pruned %d activations older than %d days", pruned, days)

    async def _interrupt_superseded(self) -> None:
        """Busy policy `interrupt`: a run stops at its next model boundary when a newer
        trigger for the same bot is waiting."""
        candidates = {ctx.bot.id: ctx for ctx in self.running.values()
                      if ctx.config.busy_policy == "interrupt" and not ctx.interrupted.is_set()
                      and ctx.activation.trigger_kind != SUBAGENT}
        if not candidates:
            return
        async with self.db.read() as session:
            waiting = set((await session.scalars(select(Activation.bot_id).where(
                Activation.status == "pending", Activation.bot_id.in_(list(candidates)),
                # A child starting or ending is no reason to stop what the parent does.
                Activation.trigger_kind.not_in((SUBAGENT, RESULT)),
                Activation.available_at <= self.clock()))).all())
        for bot_id in waiting:
            candidates[bot_id].interrupted.set()

    async def _claim(self, slots: int) -> list[tuple[Activation, list[str]]]:
        """Take up to `slots` of the oldest runnable activations, one per bot and only for
        bots not already running one, in one transaction; a sub-agent's only when its lane
        admits it. Each comes with the trigger ids a `collect` policy folded into it."""
        now = self.clock()
        query = _RUNNABLE if self.db.is_sqlite else _RUNNABLE_LOCKED
        claimed: list[tuple[Activation, list[str]]] = []
        async with self.db.write() as session:
            rows = (await session.scalars(query, {"now": now, "limit": slots * 4})).all()
            for row in rows:  # at most one per bot, but children
                child = row.trigger_kind == SUBAGENT
                try:
                    async with session.begin_nested():
                        if child and not await admit(
                                session, row, now, self.settings.subagent_house_concurrency):
                            continue  # its lane is full: it waits, in order
                        updated = await session.execute(
                            update(Activation)
                            .where(Activation.id == row.id, Activation.status == "pending")
                            .values(status="running", lease_owner=self.name,
                                    lease_expires_at=now + self.lease, started_at=now,
                                    attempts=Activation.attempts + 1))
                except IntegrityError:  # another process started this bot meanwhile
                    continue
                if updated.rowcount:  # type: ignore[attr-defined]
                    metrics.activation_claim_latency.observe(
                        max(0.0, (now - row.available_at).total_seconds()))
                    carried = list((row.payload or {}).get(COLLECTED, []))  # handed back
                    claimed.append((row, carried + await self._collect(session, row, now)))
                    if len(claimed) == slots:
                        break
        return claimed

    async def _collect(self, session: Any, row: Activation, now: datetime) -> list[str]:
        """Busy policy `collect`: later waiting triggers in the same room merge into this run."""
        if row.trigger_kind == SUBAGENT:
            return []
        bot = await session.get(User, row.bot_id)
        if bot is None or load_config(bot.config).busy_policy != "collect":
            return []
        later = (await session.scalars(select(Activation).where(
            Activation.bot_id == row.bot_id, Activation.room_id == row.room_id,
            Activation.status == "pending", Activation.available_at <= now,
            Activation.trigger_kind.not_in((SUBAGENT, RESULT)),  # a child's end is never lost
            Activation.id != row.id).order_by(Activation.created_at))).all()
        for other in later:
            other.status, other.outcome, other.skip_reason = "done", "skipped", "collected"
            other.finished_at = now
            other.payload = {**other.payload, "collected_into": row.id}
        return [o.trigger_message_id for o in later if o.trigger_message_id]

    async def _execute(self, row: Activation, collected: list[str]) -> None:
        with log_context(activation_id=row.id):
            metrics.activations_running.inc()
            try:
                await self._execute_logged(row, collected)
            finally:
                metrics.activations_running.dec()

    async def _execute_logged(self, row: Activation, collected: list[str]) -> None:
        started = time.perf_counter()
        keeper = asyncio.create_task(self._keep_lease(row))
        try:
            # A retry of a run that answered before its worker died closes as replied.
            posted = await self._reply_already_posted(row.id)
            ctx = None if posted else await self._context(row, collected)
            if posted is not None:
                outcome = Outcome("replied", reply_message_id=posted)
            elif ctx is None:
                outcome = Outcome("error", error="the bot, room or trigger no longer exists")
            else:
                self.running[row.id] = ctx
                outcome = await self._gate(ctx) or await self._run_runtime(ctx)
        except LeaseLost as exc:
            outcome = Outcome("error", error=exc.message)
        except Exception as exc:
            log.exception("activation %s failed", row.id)
            outcome = Outcome("error", error=f"internal error: {type(exc).__name__}")
        finally:
            keeper.cancel()
            self.running.pop(row.id, None)
        elapsed = time.perf_counter() - started
        finished = await self._finish(row, outcome, int(elapsed * 1000))
        self._held.pop(row.id, None)
        if not finished:
            metrics.activations.labels(row.trigger_kind, "lease_lost").inc()
            return  # the worker that took it over tells the listeners
        metrics.activations.labels(row.trigger_kind, outcome.outcome).inc()
        metrics.activation_duration.labels(row.trigger_kind).observe(elapsed)
        log.info("activation ended %s (%s) in %d ms%s", outcome.outcome, row.trigger_kind,
                 elapsed * 1000, f": {outcome.error}" if outcome.error else "")
        for listener in self.on_finish:
            try:
                await listener(row, outcome)
            except Exception:
                log.exception("a listener of finished activation %s failed", row.id)

    async def _run_runtime(self, ctx: ActivationContext) -> Outcome:
        runtime = self.runtimes.get(ctx.config.runtime)
        if runtime is None:
            return Outcome("error", error=f"no runtime {ctx.config.runtime!r} in this process")
        return await runtime.run(ctx)

    async def _keep_lease(self, row: Activation) -> None:
        """Renew the lease while the run is alive, so only a dead worker's lease expires.
        Stops once the lease is lost: the run's reply will then be refused. A sub-agent whose
        activation was closed meanwhile (killed from another process) is stopped."""
        activation_id = row.id
        while True:
            await asyncio.sleep(self.renew_seconds)
            try:
                async with self.db.write() as session:
                    renewed = await session.execute(
                        update(Activation).where(Activation.id == activation_id,
                                                 Activation.status == "running",
                                                 Activation.lease_owner == self.name)
                        .values(lease_expires_at=self.clock() + self.lease))
            except Exception:  # the next round tries again, while the lease lasts
                log.exception("renewing the lease of activation %s failed", activation_id)
                continue
            if not renewed.rowcount:  # type: ignore[attr-defined]
                if row.trigger_kind == SUBAGENT:
                    log.info("sub-agent activation %s was closed elsewhere; stopping it",
                             activation_id)
                    self.cancel(activation_id)
                    return
                log.warning("worker %s lost the lease of activation %s; another worker "
                            "runs it now", self.name, activation_id)
                return

    async def _reply_already_posted(self, activation_id: str) -> str | None:
        """The id of the reply this activation already posted, if it did."""
        async with self.db.read() as session:
            return await session.scalar(select(Message.id)
                                        .where(Message.activation_id == activation_id))

    async def _context(self, row: Activation, collected: list[str]) -> ActivationContext | None:
        async with self.db.read() as session:
            bot = await session.get(User, row.bot_id)
            room = await session.get(Room, row.room_id)
            house = await session.get(House, row.house_id)
            if bot is None or bot.deleted_at is not None or room is None or house is None:
                return None
            inputs = []
            for message_id in [row.trigger_message_id, *collected]:
                message = await session.get(Message, message_id) if message_id else None
                if message is not None:
                    inputs.append(await message_with_sender(session, message, room))
        return ActivationContext(self.chat, self.gateway, row, bot, load_config(bot.config),
                                 room, house, inputs[0] if inputs else None, inputs,
                                 lease_owner=self.name)

    async def _gate(self, ctx: ActivationContext) -> Outcome | None:
        """The checks before a run: the daily budget for every trigger; for ambient ones the
        cooldown (no model call) and then the relevance question. None means go ahead."""
        now = self.clock()
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        async with self.db.read() as session:
            # A child run as another agent spends its parent's budget as well as its own.
            holders = [(ctx.bot.id, ctx.config.daily_token_budget)]
            parent = await budget_holder(session, ctx.activation)
            if parent is not None:
                holders.append((parent.id, load_config(parent.config).daily_token_budget))
            for bot_id, budget in holders:
                if budget is None:
                    continue
                used = (await tokens_used_since(session, bot_id, midnight)
                        + await tokens_of_children(session, bot_id, midnight))
                if used >= budget:
                    return Outcome("skipped", skip_reason="budget")
            if ctx.activation.trigger_kind != "ambient" or ctx.trigger is None:
                return None
            recent = await recent_messages(session, ctx.room.id, ctx.trigger["seq"])
        if spoke_recently(ctx.bot.id, recent):
            return Outcome("skipped", skip_reason="cooldown")
        relevant, cost = await judged_relevant(self.models(), self.settings.llm, ctx.house,
                                               ctx.bot, ctx.config, recent)
        if not relevant:
            return Outcome("skipped", skip_reason="relevance", **cost)
        return None

    async def _finish(self, row: Activation, outcome: Outcome, duration_ms: int) -> bool:
        """Record the outcome, only while this worker holds the lease (says whether it did);
        `lease_owner` stays as the record of which worker ran it. A `waiting` outcome parks
        the activation unfinished (status `waiting`, no outcome yet). A sub-agent's end, and
        the announcement it queues, are recorded in the same transaction."""
        activation_id = row.id
        waiting = outcome.outcome == WAITING
        async with self.db.write() as session:
            finished = await session.execute(
                update(Activation)
                .where(Activation.id == activation_id, Activation.status == "running",
                       Activation.lease_owner == self.name)
                .values(status=WAITING if waiting else "done",
                        outcome=None if waiting else outcome.outcome,
                        skip_reason=outcome.skip_reason, model=outcome.model,
                        input_tokens=outcome.input_tokens, output_tokens=outcome.output_tokens,
                        error=outcome.error, reply_message_id=outcome.reply_message_id,
                        duration_ms=duration_ms, finished_at=None if waiting else self.clock(),
                        lease_expires_at=None))
            if finished.rowcount and row.trigger_kind == SUBAGENT:  # type: ignore[attr-defined]
                stored = await session.get(Activation, activation_id, populate_existing=True)
                assert stored is not None
                await end_child(session, stored, outcome=outcome.outcome,
                                skip_reason=outcome.skip_reason, error=outcome.error,
                                input_tokens=outcome.input_tokens,
                                output_tokens=outcome.output_tokens, now=self.clock())
        if not finished.rowcount:  # type: ignore[attr-defined]
            log.warning("worker %s lost the lease of activation %s before it finished; its "
                        "outcome (%s) is not recorded", self.name, activation_id,
                        outcome.outcome)
            return False
        # The bot is free again: its next waiting trigger can start.
        self.wake()
        return True


def lease_owner_name() -> str:
    """This worker's name in the leases it holds: host, process id and a random part (one
    process may run several workers), within the column's 64 characters."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{new_id()[-12:]}"
