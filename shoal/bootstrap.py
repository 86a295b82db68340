"""First-run setup: the default house, its lobby and, for the demo, an owner account and
an agent to talk to."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass

import httpx
from sqlalchemy import func, select

from shoal.auth.accounts import create_bot, create_person
from shoal.auth.passwords import Passwords
from shoal.errors import InvalidInput
from shoal.llm import Catalog, parse_model_ref
from shoal.rooms.house_settings import updated_settings
from shoal.rooms.houses import add_house_member, create_house, default_house
from shoal.rooms.rooms import create_room, join_room
from shoal.store.db import Database
from shoal.store.tables import House, HouseMember, Room, User

OLLAMA_TAGS_URL = "http://127.0.0.1:11434/api/tags"
# The first key found picks the model: one good, inexpensive model per provider.
KEY_MODELS = (("ANTHROPIC_API_KEY", "sonnet"), ("OPENAI_API_KEY", "gpt-mini"),
              ("GEMINI_API_KEY", "gemini-flash"), ("GOOGLE_API_KEY", "gemini-flash"))
DEMO_AGENT_NAME = "Helper"
DEMO_AGENT_PROMPT = (
    "You are Helper, the friendly guide of this Shoal workspace. Welcome newcomers, answer "
    "questions briefly and plainly, and point people to the slash commands that help them "
    "(/help lists them). You can use those commands yourself, for example to save notes for "
    "the room. If you do not know something, say so.")


@dataclass(frozen=True)
class Bootstrap:
    """What first-run setup did; `password` is set only when it created the owner just now."""

    house: House
    lobby: Room | None
    owner_username: str | None
    password: str | None


async def ensure_home(
    db: Database, *, owner_username: str | None = None, passwords: Passwords | None = None
) -> Bootstrap:
    """Make sure the default house "Home" with a public `lobby` exists; with `owner_username`,
    also make sure it has that owner, creating them with a random password on first run."""
    password = secrets.token_urlsafe(12) if owner_username else None
    password_hash = await (passwords or Passwords()).hash(password) if password else None
    created = False
    async with db.write() as session:
        house = await default_house(session)
        if house is None:
            house = await create_house(session, "Home", None, is_default=True)
            await create_room(session, house.id, "lobby", None, charter="Say hello.")
        lobby = await session.scalar(
            select(Room).where(Room.house_id == house.id, Room.slug == "lobby")
        )
        owners = await session.scalar(
            select(func.count()).select_from(HouseMember)
            .where(HouseMember.house_id == house.id, HouseMember.role == "owner")
        )
        if owner_username and password_hash and not owners:
            created = True
            owner = await create_person(session, owner_username, password_hash, "Owner")
            await add_house_member(session, house.id, owner, "owner")
            if lobby is not None:
                await join_room(session, lobby.id, owner.id)
    return Bootstrap(house, lobby, owner_username, password if created else None)


@dataclass(frozen=True)
class DemoAgent:
    """The demo's agent: its @handle and the model it runs on (a `provider/model`)."""

    handle: str
    model: str
    relevance_model: str | None = None


async def ollama_models(url: str = OLLAMA_TAGS_URL, timeout: float = 0.5) -> list[str]:
    """The models a local Ollama offers, or none when it is not running."""
    try:
        # trust_env off: a proxy from the environment must not answer for localhost.
        async with httpx.AsyncClient(timeout=timeout, trust_env=False) as client:
            response = await client.get(url)
            response.raise_for_status()
            return [str(m["name"]) for m in response.json().get("models", []) if m.get("name")]
    except (httpx.HTTPError, ValueError, AttributeError, TypeError, KeyError):
        return []


def demo_relevance_model(env: Mapping[str, str]) -> str | None:
    """With a provider key: that provider's cheapest model, for the relevance question."""
    alias = next((model for var, model in KEY_MODELS if env.get(var)), None)
    if alias is None:
        return None
    catalog = Catalog(env=env)
    return catalog.cheapest(parse_model_ref(alias, catalog).provider)


async def demo_model(env: Mapping[str, str], ollama_url: str = OLLAMA_TAGS_URL) -> str:
    """The best model the environment offers: a provider key, else a local Ollama model,
    else the offline model; as a `provider/model` reference."""
    alias = next((model for var, model in KEY_MODELS if env.get(var)), None)
    if alias is None:
        local = await ollama_models(ollama_url)
        alias = f"ollama/{local[0]}" if local else "offline"
    return str(parse_model_ref(alias, Catalog(env=env)))


async def ensure_demo_agent(db: Database, env: Mapping[str, str], *,
                            ollama_url: str = OLLAMA_TAGS_URL) -> DemoAgent:
    """Make sure Home's owner has a builtin agent "Helper" in the lobby, mention-triggered,
    on the best model available now (a later run moves it to a better one). With a provider
    key, Home's relevance model becomes that provider's cheapest model."""
    model = await demo_model(env, ollama_url)
    relevance = demo_relevance_model(env)
    async with db.write() as session:
        house = await default_house(session)
        assert house is not None, "ensure_home runs first"
        if relevance is not None:
            try:
                house.settings = updated_settings(
                    house.settings, {"relevance_model": relevance}, Catalog(env=env))
            except InvalidInput:  # the owner's allowlist leaves it out: theirs to choose
                relevance = house.settings.get("relevance_model")
        lobby = await session.scalar(
            select(Room).where(Room.house_id == house.id, Room.slug == "lobby"))
        owner_id = await session.scalar(
            select(HouseMember.user_id).where(HouseMember.house_id == house.id,
                                              HouseMember.role == "owner").limit(1))
        bot = await session.scalar(
            select(User).where(User.kind == "bot", User.owner_id == owner_id,
                               User.display_name == DEMO_AGENT_NAME, User.deleted_at.is_(None))
            .order_by(User.created_at).limit(1))
        if bot is None:
            bot = await create_bot(session, DEMO_AGENT_NAME, owner_id, verified=True)
            bot.config = {"description": "Shoal's demo agent: ask it anything.",
                          "runtime": "builtin", "trigger_mode": "mention",
                          "system_prompt": DEMO_AGENT_PROMPT}
        # Keep the owner's edits; only the model follows the environment.
        bot.config = {**bot.config, "model": {**bot.config.get("model", {}), "primary": model}}
        await add_house_member(session, house.id, bot, "member")
        if lobby is not None:
            await join_room(session, lobby.id, bot.id)
        return DemoAgent(bot.username, model, relevance)
