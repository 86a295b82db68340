"""Fixtures for the scheduler: a migrated database per backend, and a clock tests move."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete

from shoal.core import Shoal
from shoal.scheduler.tables import Schedule
from shoal.store import migrate
from tests.support import Clock, make_settings

BACKENDS = ["sqlite"] + (["postgres"] if os.environ.get("SHOAL_TEST_DATABASE_URL") else [])
# Far enough ahead that no scheduler on the real clock (other tests' servers share the
# PostgreSQL database) ever finds these tests' rows due.
EPOCH = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def clock() -> Clock:
    return Clock(EPOCH)


@pytest.fixture(scope="module", params=BACKENDS)
async def migrated(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                   ) -> AsyncIterator[Shoal]:
    """A Shoal whose schema is migrated but whose background loops are not running, shared
    by a module's tests (migrating is the slow part)."""
    tmp = tmp_path_factory.mktemp(f"scheduler-{request.param}")
    shoal = Shoal(make_settings(tmp, request.param))
    await migrate(shoal.db)
    try:
        yield shoal
    finally:
        await shoal.stop()


@pytest.fixture
async def shoal(migrated: Shoal) -> AsyncIterator[Shoal]:
    """The module's Shoal, left after each test without the far-future rows tests make (the
    PostgreSQL database outlives the test, and the next test starts from none)."""
    try:
        yield migrated
    finally:
        async with migrated.db.write() as session:
            await session.execute(delete(Schedule).where(Schedule.due_at >= EPOCH - DAY))
