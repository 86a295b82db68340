"""Group commit for the room logs: concurrent posts share one transaction."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from shoal import metrics
from shoal.errors import Conflict, LeaseLost, NotFound, ShoalError
from shoal.rooms.access import Access, Action, authorize, room_access_to_read, rooms_to_read
from shoal.rooms.messages import Draft, Sender, append_messages, message_view
from shoal.rooms.rooms import join_room
from shoal.store.db import HeldConnection
from shoal.store.tables import Activation, Message, Room, User

if TYPE_CHECKING:
    from shoal.rooms.broadcast import RoomBroadcaster, RoomEvents
    from shoal.store.db import Database

log = logging.getLogger("shoal.rooms")
MAX_BATCH = 256


@dataclass
class Append:
    """One message to append; `check` says whether the sender's right to post is checked
    (people and agents) or not (Shoal's own system messages)."""

    room_id: str
    draft: Draft
    check: bool
    done: asyncio.Future[dict[str, Any]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())


class ActivationPlanner(Protocol):
    """Who answers stored messages: the dispatcher, as the appender sees it."""

    async def plan(self, session: AsyncSession,
                   appended: list[tuple[Room, list[tuple[Message, User | None, str | None]]]]
                   ) -> int:
        """Insert the activations for messages just appended; how many can run now."""
        ...

    def committed(self, runnable: int) -> None:
        """The transaction holding `runnable` new activations committed."""
        ...


@dataclass
class _ReadOnce:
    """What a batch reads once however many of its messages need it: the rooms of Shoal's
    own posts (all in one query) and senders' standings in rooms."""

    rooms: dict[str, Room] = field(default_factory=dict)
    standings: dict[tuple[str, str], Access] = field(default_factory=dict)


def _succeed(job: Append, view: dict[str, Any]) -> None:
    # A poster that stopped waiting (a cancelled request) must not fail the others.
    if not job.done.done():
        job.done.set_result(view)


def _connection_dropped(exc: BaseException) -> bool:
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def _fail_all(jobs: list[Append], exc: BaseException) -> None:
    for job in jobs:
        if not job.done.done():
            job.done.set_exception(exc)


class MessageAppender:
    """Takes every message append in this process. Whatever is queued when the previous
    transaction ends is authorized, written and committed together, then broadcast in seq
    order, so under load the cost of a commit is shared by many messages. Whoever posts in
    a public room they have not joined becomes one of its members (`members_changed` then
    tells the room)."""

    def __init__(self, db: Database, broadcaster: RoomBroadcaster,
                 planner: ActivationPlanner, events: RoomEvents,
                 members_changed: Callable[[Room], Awaitable[None]] | None = None) -> None:
        self.db = db
        self.broadcaster = broadcaster
        self.planner = planner
        self.events = events
        self.members_changed = members_changed
        self._connection = HeldConnection(db)
        self._queue: asyncio.Queue[Append] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    async def append(self, room_id: str, draft: Draft, *, check: bool) -> dict[str, Any]:
        """Queue a message and wait until it is stored and broadcast; returns its view."""
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._run(), name="shoal-message-appender")
        job = Append(room_id, draft, check)
        self._queue.put_nowait(job)
        return await job.done

    async def stop(self, timeout: float = 10) -> None:
        """Write what is queued (for up to `timeout` seconds), then stop the worker; appends
        still queued after that fail."""
        if self._worker is not None:
            if not self._worker.done():
                try:
                    await asyncio.wait_for(self._queue.join(), timeout)
                except TimeoutError:
                    log.warning("stopping with %d messages not yet stored",
                                self._queue.qsize())
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        await self._connection.release()

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._write(batch)
            except Exception as exc:  # a store failure fails this batch, not the worker
                if not isinstance(exc, ShoalError):
                    log.exception("appending %d messages failed", len(batch))
                _fail_all(batch, exc)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _write(self, batch: list[Append]) -> None:
        rooms = sorted({job.room_id for job in batch})
        async with AsyncExitStack() as stack:
            # Held from seq assignment to broadcast: a socket replaying history on join
            # cannot interleave with these messages.
            for room_id in rooms:
                await stack.enter_async_context(self.broadcaster.room_order(room_id))
            joined: dict[str, Room] = {}
            for written, runnable, rooms_joined in await self._commit_isolated(batch):
                if written:
                    metrics.messages_stored.inc(len(written))
                    metrics.message_batch_size.observe(len(written))
                self.planner.committed(runnable)
                joined.update((room.id, room) for room in rooms_joined)
                for job, room, message, handle in written:
                    view = message_view(message, room, Sender(job.draft.sender.user, handle,
                                                              job.draft.sender.name))
                    await self.broadcaster.emit_message(room.id, view)
                    _succeed(job, view)
        if self.members_changed is not None:
            for room in joined.values():
                await self.members_changed(room)

    async def _commit_isolated(self, batch: list[Append]
                               ) -> list[tuple[list[Any], int, list[Room]]]:
        """Commit the batch in one transaction; if that fails, commit its messages one by
        one, so a message the store refuses fails alone and the others are kept."""
        try:
            return [await self._commit(batch)]
        except Exception as exc:
            pending = [job for job in batch if not job.done.done()]
            # A connection the database dropped is worth one more try on a fresh one.
            if not pending or (len(batch) == 1 and not _connection_dropped(exc)):
                raise
            log.warning("appending %d messages failed; retrying them one by one", len(batch))
        committed = []
        for job in pending:
            try:
                committed.append(await self._commit([job]))
            except Exception as exc:  # this message alone fails
                if not isinstance(exc, ShoalError):
                    log.exception("appending a message failed")
                _fail_all([job], exc)
        return committed

    async def _commit(self, batch: list[Append]) -> tuple[list[Any], int, list[Room]]:
        async with self._connection.write() as session:
            return await self._store(session, batch)

    async def _store(self, session: AsyncSession, batch: list[Append]
                     ) -> tuple[list[Any], int, list[Room]]:
        accepted: dict[str, tuple[Room, list[tuple[Append, Any]]]] = {}
        read = _ReadOnce(await rooms_to_read(session, {
            job.room_id for job in batch if job.draft.sender.user is None or not job.check}))
        answered = await self._already_answered(session, batch)
        leases: dict[str | None, str | None] = await self._leases_held(session, batch)
        replying: set[str] = set()
        for job in batch:
            try:
                room, access = await self._authorize(session, job, read)
                handle = access.handle if access else None
            except ShoalError as exc:
                _fail_all([job], exc)
                continue
            activation_id = job.draft.activation_id
            if job.draft.lease_owner and leases.get(activation_id) != job.draft.lease_owner:
                job.done.set_exception(LeaseLost(
                    "this worker's lease on the activation ran out and another worker runs "
                    "it now; the reply was not posted"))
                continue
            if activation_id in answered:
                _succeed(job, message_view(answered[activation_id], room, Sender(
                    job.draft.sender.user, handle, job.draft.sender.name)))
                continue
            if activation_id in replying:
                _fail_all([job], Conflict("this activation is already being answered"))
                continue
            if activation_id:
                replying.add(activation_id)
            accepted.setdefault(room.id, (room, []))[1].append((job, access))
        # Rooms in one order everywhere: processes sharing PostgreSQL then take the rooms'
        # row locks in the same order and cannot deadlock.
        rooms = sorted(accepted.values(), key=lambda pair: pair[0].id)
        joined = await self._join_posters(session, rooms)
        appended = await append_messages(
            session, [(room, [job.draft for job, _ in jobs]) for room, jobs in rooms])
        runnable = await self.planner.plan(session, [
            (room, [(message, job.draft.sender.user, access.role if access else None)
                    for (job, access), message in zip(jobs, messages, strict=True)])
            for (room, jobs), messages in zip(rooms, appended, strict=True)])
        written = [(job, room, message, access.handle if access else None)
                   for (room, jobs), messages in zip(rooms, appended, strict=True)
                   for (job, access), message in zip(jobs, messages, strict=True)]
        await self.events.messages_created(session, written)
        return written, runnable, joined

    async def _join_posters(self, session: AsyncSession,
                            rooms: list[tuple[Room, list[tuple[Append, Access | None]]]]
                            ) -> list[Room]:
        """Make each poster not yet in a (public) room one of its members, so the member
        list and `@` completion show them; returns the rooms whose members changed."""
        changed: dict[str, Room] = {}
        joined: set[tuple[str, str]] = set()
        for room, jobs in rooms:
            for _, access in jobs:
                if access is None or access.in_room or (access.user_id, room.id) in joined:
                    continue
                joined.add((access.user_id, room.id))
                await join_room(session, room.id, access.user_id)
                await self.events.member_changed(session, "member.joined", room, access.user_id)
                changed[room.id] = room
        return list(changed.values())

    async def _already_answered(self, session: AsyncSession, batch: list[Append]
                                ) -> dict[str, Message]:
        ids = [job.draft.activation_id for job in batch if job.draft.activation_id]
        if not ids:
            return {}
        found = await session.scalars(select(Message).where(Message.activation_id.in_(ids)))
        return {m.activation_id: m for m in found if m.activation_id}

    async def _leases_held(self, session: AsyncSession, batch: list[Append]
                           ) -> dict[str | None, str | None]:
        """Who holds the lease of each running activation a worker replies to. The rows stay
        locked until the reply commits, so a lease cannot pass to another worker meanwhile."""
        ids = sorted({job.draft.activation_id for job in batch
                      if job.draft.activation_id and job.draft.lease_owner})
        if not ids:
            return {}
        query = (select(Activation.id, Activation.lease_owner)
                 .where(Activation.id.in_(ids), Activation.status == "running")
                 .order_by(Activation.id))
        if not self.db.is_sqlite:  # SQLite runs one write transaction at a time anyway
            query = query.with_for_update()
        return {row.id: row.lease_owner for row in await session.execute(query)}

    async def _authorize(self, session: AsyncSession, job: Append,
                         read: _ReadOnce) -> tuple[Room, Access | None]:
        user = job.draft.sender.user
        if user is None or not job.check:
            if job.room_id not in read.rooms:
                raise NotFound("room not found")
            return read.rooms[job.room_id], None
        key = (user.id, job.room_id)
        if key not in read.standings:
            read.standings[key] = await room_access_to_read(session, user.id, job.room_id)
        access = read.standings[key]
        authorize(access, Action.POST)
        assert access.room is not None
        return access.room, access
