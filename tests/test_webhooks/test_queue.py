"""The queue: deliveries exist exactly when the change that caused them commits, and the
scheduler is woken then; subscription changes in this process are seen at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from shoal.core import Shoal
from shoal.net.outbound import OutboundPolicy
from shoal.rooms.houses import create_house
from shoal.rooms.rooms import create_room
from shoal.store import migrate
from shoal.store.tables import Room
from shoal.webhooks.queue import queue_event
from shoal.webhooks.subscriptions import create_subscription, delete_subscription
from shoal.webhooks.tables import Delivery, Subscription
from tests.support import make_settings


class Rollback(Exception):
    pass


@pytest.fixture
async def shoal(tmp_path: Path) -> AsyncIterator[Shoal]:
    """A Shoal with a migrated SQLite database and no background loops."""
    shoal = Shoal(make_settings(tmp_path, "sqlite"))
    await migrate(shoal.db)
    try:
        yield shoal
    finally:
        await shoal.stop()


async def count_deliveries(shoal: Shoal) -> int:
    async with shoal.db.read() as session:
        return await session.scalar(select(func.count()).select_from(Delivery)) or 0


async def test_deliveries_commit_with_the_change_and_wake_the_scheduler_after(
    shoal: Shoal, monkeypatch: pytest.MonkeyPatch,
) -> None:
    woken: list[int] = []
    monkeypatch.setattr(shoal.scheduler, "wake", lambda: woken.append(1))
    async with shoal.db.write() as session:
        house = await create_house(session, "Queue", None)
        room = await create_room(session, house.id, "general", None)
        assert await queue_event(session, "agency.updated", room=room, agency={}) == 0
    assert woken == []
    async with shoal.db.write() as session:
        sub, _ = await create_subscription(session, shoal.secrets, OutboundPolicy(),
                                           house_id=house.id,
                                           room_id=room.id, creator_id=None,
                                           url="https://example.com/", events=["agency.updated"])
    async with shoal.db.write() as session:
        assert await queue_event(session, "agency.updated", room=room, agency={}) == 1
        assert await queue_event(session, "agency.updated", room=room, agency={}) == 1
        assert woken == []  # not before the commit
    assert woken == [1]  # once per transaction
    assert await count_deliveries(shoal) == 2

    with pytest.raises(Rollback):
        async with shoal.db.write() as session:
            assert await queue_event(session, "agency.updated", room=room, agency={}) == 1
            raise Rollback
    assert woken == [1] and await count_deliveries(shoal) == 2

    async with shoal.db.write() as session:
        await delete_subscription(session, await session.get(Subscription, sub.id))
    async with shoal.db.write() as session:
        refreshed = await session.get(Room, room.id)
        assert await queue_event(session, "agency.updated", room=refreshed, agency={}) == 0
