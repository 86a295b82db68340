"""The demo's agent: on the best model the environment offers, created once, kept current."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from sqlalchemy import select

from shoal.agents.config import load_config
from shoal.auth.passwords import Passwords
from shoal.bootstrap import ensure_demo_agent, ensure_home
from shoal.rooms.houses import default_house
from shoal.store import Database, migrate
from shoal.store.tables import HouseMember, Room, RoomMember, User


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}")
    await migrate(database)
    await ensure_home(database, owner_username="owner", passwords=Passwords(1, 1024))
    yield database
    await database.dispose()


@pytest.fixture
def closed_port() -> str:
    """A loopback URL where nothing listens, standing in for an absent Ollama."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/api/tags"


@pytest.fixture
async def ollama() -> AsyncIterator[str]:
    """A stand-in local Ollama that lists one model."""
    async def tags(_: web.Request) -> web.Response:
        return web.json_response({"models": [{"name": "llama3.2:1b"}, {"name": "qwen3:4b"}]})

    app = web.Application()
    app.router.add_get("/api/tags", tags)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/api/tags"
    await runner.cleanup()


async def test_helper_joins_the_lobby_on_the_best_model_and_follows_the_environment(
        db: Database, closed_port: str, ollama: str) -> None:
    offline = await ensure_demo_agent(db, {}, ollama_url=closed_port)
    assert (offline.handle, offline.model) == ("helper", "offline/shoal-offline")
    local = await ensure_demo_agent(db, {}, ollama_url=ollama)
    assert local.model == "ollama/llama3.2:1b"
    keyed = await ensure_demo_agent(db, {"GEMINI_API_KEY": "g", "OPENAI_API_KEY": "o"},
                                    ollama_url=ollama)
    assert keyed.model == "openai/gpt-5-mini"
    claude = await ensure_demo_agent(db, {"ANTHROPIC_API_KEY": "a"}, ollama_url=closed_port)
    assert claude.model == "anthropic/claude-sonnet-4-5"

    async with db.read() as session:
        bots = (await session.scalars(select(User).where(User.kind == "bot"))).all()
        [bot] = bots  # one agent however often the demo starts
        owner = await session.scalar(select(User).where(User.username == "owner"))
        lobby = await session.scalar(select(Room).where(Room.slug == "lobby"))
        in_lobby = await session.get(RoomMember, (lobby.id, bot.id))  # type: ignore[union-attr]
        member = await session.scalar(select(HouseMember).where(HouseMember.user_id == bot.id))
    config = load_config(bot.config)
    assert bot.verified and bot.owner_id == owner.id  # type: ignore[union-attr]
    assert in_lobby is not None and member is not None and member.handle == "helper"
    assert config.runtime == "builtin" and config.trigger_mode == "mention"
    assert config.model.primary == "anthropic/claude-sonnet-4-5"
    assert "Helper" in config.system_prompt

    # The owner's own edits survive the next start; only the model follows the environment.
    async with db.write() as session:
        stored = await session.get(User, bot.id)
        assert stored is not None
        stored.config = {**stored.config, "system_prompt": "You are terse."}
    await ensure_demo_agent(db, {}, ollama_url=closed_port)
    async with db.read() as session:
        stored = await session.get(User, bot.id)
    edited = load_config(stored.config)  # type: ignore[union-attr]
    assert edited.system_prompt == "You are terse."
    assert edited.model.primary == "offline/shoal-offline"


async def test_with_a_provider_key_the_demo_house_asks_its_cheapest_model_about_relevance(
        db: Database, closed_port: str) -> None:
    async def relevance() -> object:
        async with db.read() as session:
            return (await default_house(session)).settings.get(  # type: ignore[union-attr]
                "relevance_model")

    assert (await ensure_demo_agent(db, {}, ollama_url=closed_port)).relevance_model is None
    assert await relevance() is None
    for env, cheapest in [({"ANTHROPIC_API_KEY": "a"}, "anthropic/claude-haiku-4-5"),
                          ({"OPENAI_API_KEY": "o"}, "openai/gpt-5-mini"),
                          ({"GEMINI_API_KEY": "g"}, "google/gemini-2.5-flash")]:
        agent = await ensure_demo_agent(db, env, ollama_url=closed_port)
        assert agent.relevance_model == cheapest
        assert await relevance() == cheapest
