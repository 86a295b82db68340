"""Shared fixtures: a real Shoal served on loopback, on SQLite and (when configured) PostgreSQL.

Every test that asks for `shoal_server` runs once per backend: SQLite always, PostgreSQL when
SHOAL_TEST_DATABASE_URL is set. Tests share one database per backend and stay independent by
creating their own users, houses and rooms with unique names.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from shoal.config import normalize_database_url
from tests.support import ShoalServer, make_settings, reset_postgres, serve

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
