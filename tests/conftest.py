"""Shared fixtures: a real Shoal served on loopback, on SQLite and (when configured) PostgreSQL.

Every test that asks for `shoal_server` runs once per backend: SQLite always, PostgreSQL when
SHOAL_TEST_DATABASE_URL is set. Tests share one database per backend and stay independent by
creating their own users, houses and rooms with unique names. The suite runs in two processes
(pytest-xdist, `-n 2` in pyproject.toml); each takes a PostgreSQL database and a Redis
database of its own, named after the given ones.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.engine import make_url

from shoal.config import normalize_database_url
from tests.support import ShoalServer, database_beside, make_settings, reset_postgres, serve


def pytest_configure(config: pytest.Config) -> None:
    """In an xdist worker, point the test services at the worker's own databases."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:
        return
    number = int(worker.removeprefix("gw"))
    database = os.environ.get("SHOAL_TEST_DATABASE_URL")
    if database:
        os.environ["SHOAL_TEST_DATABASE_URL"] = asyncio.run(database_beside(worker, database))
    redis = os.environ.get("SHOAL_TEST_REDIS_URL")
    if redis:
        url = make_url(redis)
        index = int(url.database or 0) + number
        os.environ["SHOAL_TEST_REDIS_URL"] = url.set(database=str(index)).render_as_string(
            hide_password=False)


BACKENDS = ["sqlite"] + (["postgres"] if os.environ.get("SHOAL_TEST_DATABASE_URL") else [])


@pytest.fixture(scope="session", params=BACKENDS)
async def shoal_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                       ) -> AsyncIterator[ShoalServer]:
    """A running Shoal shared by the tests of one backend."""
    backend = request.param
    if backend == "postgres":
        await reset_postgres(normalize_database_url(os.environ["SHOAL_TEST_DATABASE_URL"]))
    settings = make_settings(tmp_path_factory.mktemp(f"shoal-{backend}"), backend)
    async for server in serve(settings):
        await server.bootstrap()
        yield server
