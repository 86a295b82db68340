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


@pytest.fixture(params=BACKENDS)
async def shoal(request: pytest.FixtureRequest, tmp_path: object) -> AsyncIterator[Shoal]:
    """A Shoal whose schema is migrated but whose background loops are not running."""
    shoal = Shoal(make_settings(tmp_path, request.param))  # type: ignore[arg-type]
    await migrate(shoal.db)
    try:
        yield shoal
    finally:
        # The PostgreSQL database outlives the test: leave no far-future rows behind.
        async with shoal.db.write() as session:
            await session.execute(delete(Schedule).where(Schedule.due_at >= EPOCH - DAY))
        await shoal.stop()
