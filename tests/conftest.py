"""Shared fixtures: a real Shoal served on loopback, on SQLite and (when configured) PostgreSQL.

Every test that asks for `shoal_server` runs once per backend: SQLite always, PostgreSQL when
SHOAL_TEST_DATABASE_URL is set. Tests share one database per backend and stay independent by
creating their own users, houses and rooms with unique names.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import uvicorn
from sqlalchemy.ext.asyncio import create_async_engine

from shoal.app import create_app
from shoal.config import Settings, normalize_database_url
from shoal.core import Shoal
from tests.support import ShoalServer

BACKENDS = ["sqlite"] + (["postgres"] if os.environ.get("SHOAL_TEST_DATABASE_URL") else [])


async def reset_postgres(url: str) -> None:
    """Start a PostgreSQL test run from an empty public schema."""
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
        await conn.execute(sa.text("CREATE SCHEMA public"))
    await engine.dispose()


def test_settings(tmp: Path, backend: str, **overrides: object) -> Settings:
    """Settings for a throwaway Shoal on the given backend."""
    url = None
    if backend == "postgres":
        url = normalize_database_url(os.environ["SHOAL_TEST_DATABASE_URL"])
    values: dict[str, object] = {
        "data_dir": tmp,
        "database_url": url,
        "secret": "test-secret-do-not-use",
        "open_registration": True,
        "auth_attempts_per_minute": 1_000_000,
        "argon2_time_cost": 1,  # cheap hashes keep the suite fast; still argon2id
        "argon2_memory_kib": 1024,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


async def serve(settings: Settings) -> AsyncIterator[ShoalServer]:
    """Run Shoal with uvicorn on a free loopback port for the duration of the block."""
    shoal = Shoal(settings)
    app = create_app(settings, shoal)
    sock = socket.socket()
    # Accepted connections inherit this; without it keep-alive responses wait on delayed ACKs.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    running = ShoalServer(shoal, f"http://127.0.0.1:{port}")
    try:
        yield running
    finally:
        for client in running.clients:
            await client.aclose()
        server.should_exit = True
        await task
        sock.close()


@pytest.fixture(scope="session", params=BACKENDS)
async def shoal_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                       ) -> AsyncIterator[ShoalServer]:
    """A running Shoal shared by the tests of one backend."""
    backend = request.param
    if backend == "postgres":
        await reset_postgres(normalize_database_url(os.environ["SHOAL_TEST_DATABASE_URL"]))
    settings = test_settings(tmp_path_factory.mktemp(f"shoal-{backend}"), backend)
    async for server in serve(settings):
        await server.bootstrap()
        yield server
