"""Fixtures for the model layer: the fake provider, routers wired to it, and a database."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event, text

from shoal.llm import (
    Catalog,
    KeyRing,
    LLMConfig,
    ManualClock,
    ModelRouter,
    ProfileBook,
    ProviderConfig,
)
from shoal.llm.fakeserver import FakeLLMServer
from shoal.store import Database, migrate

# Wire names as the fake server records them, and a catalog alias served over each.
WIRES = {
    "openai": "openai/fake-gpt",
    "anthropic": "anthropic/fake-claude",
    "gemini": "google/fake-gemini",
}


@pytest.fixture(scope="session")
async def fake_server() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer() as server:
        yield server


@pytest.fixture
def fake(fake_server: FakeLLMServer) -> FakeLLMServer:
    fake_server.reset()
    return fake_server


def fake_catalog(fake: FakeLLMServer, **models: Any) -> Catalog:
    """A catalog whose openai, anthropic and google providers all point at the fake server."""
    providers = {
        "openai": ProviderConfig(
            kind="openai", base_url=fake.openai_base_url, api_key_env=["OPENAI_API_KEY"]
        ),
        "anthropic": ProviderConfig(
            kind="anthropic", base_url=fake.anthropic_base_url, api_key_env=["ANTHROPIC_API_KEY"]
        ),
        "google": ProviderConfig(
            kind="google", base_url=fake.gemini_base_url, api_key_env=["GEMINI_API_KEY"]
        ),
    }
    return Catalog(LLMConfig(providers=providers, models=models), env={})


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def make_router(fake: FakeLLMServer, clock: ManualClock) -> Any:
    """Build a router against the fake server with the given env keys."""

    def build(env: dict[str, str] | None = None, **kwargs: Any) -> ModelRouter:
        keys = env or {
            "OPENAI_API_KEY": "ok-openai",
            "ANTHROPIC_API_KEY": "ok-anthropic",
            "GEMINI_API_KEY": "ok-gemini",
        }
        return ModelRouter(fake_catalog(fake), KeyRing(env=keys), ProfileBook(clock), **kwargs)

    return build


@pytest.fixture
async def database(tmp_path: Any) -> AsyncIterator[Database]:
    """A migrated database: a SQLite file, or a fresh schema in SHOAL_TEST_DATABASE_URL."""
    url = os.environ.get("SHOAL_TEST_DATABASE_URL")
    if not url:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'llm.db'}")
        await migrate(db)
        yield db
        await db.dispose()
        return
    schema = f"test_llm_{uuid.uuid4().hex[:12]}"
    admin = Database(url)
    async with admin.engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    db = Database(url)

    def use_schema(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f'SET search_path TO "{schema}"')
        cursor.close()

    event.listen(db.engine.sync_engine, "connect", use_schema)
    try:
        await migrate(db)
        yield db
    finally:
        await db.dispose()
        async with admin.engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()
