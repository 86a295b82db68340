"""Queueing events durably: in the transaction that made a change, one delivery row per
subscription that wants the event, and a schedule row that makes a scheduler send it.

This module is called from the write paths of rooms, messages and houses, most of which hold
only a database session. The process's `EventQueue` (its subscriber cache, the scheduler's
clock and wake-up) is found from the session's engine; a session of an engine no Shoal
registered (a CLI command) still queues durably, and a running scheduler finds the rows on
its next look.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from shoal.ids import new_id
from shoal.scheduler.service import set_due
from shoal.store.tables import Room, iso, utcnow
from shoal.webhooks.tables import Delivery, Subscription

if TYPE_CHECKING:
    from shoal.store.db import Database

DELIVERY = "delivery"  # the scheduler kind of webhook deliveries
# How long a process trusts its list of a house's subscriptions. Changes made in this process
# are seen at once; another process sees them within this many seconds.
CACHE_SECONDS = 5.0
_AFTER_COMMIT = "shoal.webhooks.after_commit"


@dataclass(frozen=True)
class Listener:
    """An enabled subscription as the queue needs it: which room (None: the house), which events."""

    subscription_id: str
    room_id: str | None
    events: frozenset[str]


class SubscriberCache:
    """Each house's enabled subscriptions, so a house without any costs a dict lookup per
    message rather than a query."""

    def __init__(self, seconds: float = CACHE_SECONDS) -> None:
        self.seconds = seconds
        self._houses: dict[str, tuple[float, tuple[Listener, ...]]] = {}

    async def listeners(self, session: AsyncSession, house_id: str) -> tuple[Listener, ...]:
        """The house's enabled subscriptions, loaded at most once per `seconds`."""
        now = time.monotonic()
        cached = self._houses.get(house_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        rows = await session.execute(
            select(Subscription.id, Subscription.room_id, Subscription.events)
            .where(Subscription.house_id == house_id, Subscription.enabled.is_(True)))
        found = tuple(Listener(sid, room_id, frozenset(events or ()))
                      for sid, room_id, events in rows)
        if self.seconds > 0:
            self._houses[house_id] = (now + self.seconds, found)
        return found

    def forget(self, house_id: str) -> None:
        """The house's subscriptions changed: load them again next time."""
        self._houses.pop(house_id, None)


class EventQueue:
    """One process's way of queueing events: its subscriber cache, the scheduler's clock and
    the scheduler's wake-up, called once a transaction that queued deliveries commits."""

    def __init__(self, clock: Callable[[], datetime], wake: Callable[[], None],
                 cache: SubscriberCache | None = None) -> None:
        self.clock = clock
        self.wake = wake
        self.cache = cache or SubscriberCache()

    def attach(self, db: Database) -> None:
        """Serve the sessions of this database."""
        _QUEUES[db.engine.sync_engine] = self

    async def targets(self, session: AsyncSession, event: str, house_id: str,
                      room: Room | None) -> list[str]:
        """Ids of the enabled subscriptions that get this event. A room event reaches the
        room's subscriptions and, unless the room is private, the house-wide ones; a house
        event (no room) only the house-wide ones. Direct messages are nobody's business."""
        if room is not None and room.is_dm:
            return []
        listeners = await self.cache.listeners(session, house_id)
        if not listeners:
            return []
        return [
            item.subscription_id for item in listeners
            if event in item.events and (
                (item.room_id is None and (room is None or not room.is_private))
                or (room is not None and item.room_id == room.id))
        ]

    async def insert(self, session: AsyncSession, targets: list[str], event: str,
                     payloads: list[dict[str, Any]]) -> int:
        """Store one delivery per target and payload, each due now."""
        now = self.clock()
        deliveries = [Delivery(id=new_id(), subscription_id=target, event=event,
                               payload=payload, created_at=now)
                      for payload in payloads for target in targets]
        session.add_all(deliveries)
        await session.flush()
        for delivery in deliveries:
            await set_due(session, DELIVERY, delivery.id, now)
        self.after_commit(session, self.wake)
        return len(deliveries)

    def envelope(self, event: str, house_id: str, room: Room | None,
                 data: dict[str, Any]) -> dict[str, Any]:
        """The payload: `{event, timestamp, agencyId, houseId, ...}`."""
        return {"event": event, "timestamp": iso(self.clock()),
                "agencyId": room.id if room is not None else None, "houseId": house_id, **data}

    def forget(self, session: AsyncSession, house_id: str) -> None:
        """A house's subscriptions change in this transaction: drop them from the cache now
        and again once it commits (a message appended meanwhile may have reloaded them)."""
        self.cache.forget(house_id)
        self.after_commit(session, lambda: self.cache.forget(house_id))

    @staticmethod
    def after_commit(session: AsyncSession, action: Callable[[], None]) -> None:
        """Run `action` once the session's transaction commits; nothing if it rolls back."""
        sync = session.sync_session
        pending: list[Callable[[], None]] | None = sync.info.get(_AFTER_COMMIT)
        if pending is not None:
            if action not in pending:
                pending.append(action)
            return
        actions = [action]
        sync.info[_AFTER_COMMIT] = actions

        def committed(s: Session) -> None:
            s.info.pop(_AFTER_COMMIT, None)
            for run in actions:
                run()

        def rolled_back(s: Session) -> None:
            if s.info.get(_AFTER_COMMIT) is actions:
                s.info.pop(_AFTER_COMMIT)

        sa_event.listen(sync, "after_commit", committed, once=True)
        sa_event.listen(sync, "after_rollback", rolled_back, once=True)


_QUEUES: WeakKeyDictionary[Engine, EventQueue] = WeakKeyDictionary()
# Sessions of an engine no Shoal serves: no cache (nothing would invalidate it), no wake-up.
_DETACHED = EventQueue(utcnow, lambda: None, SubscriberCache(seconds=0))


def queue_for(session: AsyncSession) -> EventQueue:
    """The event queue of the process that owns this session's database (whether the
    session was bound to its engine or to one of its connections)."""
    bind = session.get_bind()
    engine = bind.engine if isinstance(bind, Connection) else bind
    return _QUEUES.get(engine, _DETACHED) if isinstance(engine, Engine) else _DETACHED


async def queue_event(session: AsyncSession, event: str, *, room: Room | None = None,
                      house_id: str | None = None, **data: Any) -> int:
    """Queue `event` for every subscription that wants it, inside the caller's transaction:
    a room event names its `room`, a house event its `house_id`. Returns how many deliveries
    were queued (none, at the cost of a dict lookup, when the house has no subscriptions)."""
    house = house_id if house_id is not None else (room.house_id if room is not None else None)
    if house is None:
        raise ValueError("an event needs a room or a house")
    queue = queue_for(session)
    targets = await queue.targets(session, event, house, room)
    if not targets:
        return 0
    return await queue.insert(session, targets, event, [queue.envelope(event, house, room, data)])


async def listening(session: AsyncSession, event: str, house_id: str,
                    room: Room | None = None) -> bool:
    """Whether any subscription wants this event: lets a caller skip building its payload."""
    return bool(await queue_for(session).targets(session, event, house_id, room))
