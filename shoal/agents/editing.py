"""Editing a bot's record, the one way the API, `/agent customize` and `shoal bot edit` share:
patch, validate (model references against the catalog and the bot's houses), store."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from shoal.agents.config import BotConfig, apply_patch, load_config
from shoal.errors import InvalidInput, NotFound
from shoal.jsontext import UnusableText, parse_json
from shoal.llm import HouseModels, resolve_model
from shoal.net.outbound import AddressRefused, check_url
from shoal.store.tables import House, HouseMember, User

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from shoal.crypto import SecretBox
    from shoal.llm import Catalog
    from shoal.store.db import Database

INTEGER_KEYS = {"max_hops", "daily_token_budget"}
LIST_KEYS = {"trigger_whitelist", "fallbacks"}
JSON_KEYS = {"tools"}
CLEAR_WORDS = {"none", "null", "default"}


async def edit_bot_config(db: Database, box: SecretBox, catalog: Catalog, bot_id: str,
                          patch: dict[str, Any]) -> BotConfig:
    """Apply a PATCH to a bot's configuration and store it; InvalidInput names what is wrong.
    The next activation reads the new record."""
    async with db.write() as session:
        bot = await session.get(User, bot_id)
        if bot is None or bot.kind != "bot" or bot.deleted_at is not None:
            raise NotFound("agent not found")
        stored = apply_patch(bot.config, patch, box)
        config = load_config(stored)
        if config.response_webhook_url is not None:
            try:
                check_url(config.response_webhook_url)
            except AddressRefused as exc:
                raise InvalidInput(f"response_webhook_url: {exc.message}") from None
        await check_models(session, catalog, bot_id, config)
        bot.config = stored
    return config


async def check_models(session: AsyncSession, catalog: Catalog, bot_id: str,
                       config: BotConfig) -> None:
    """Refuse model references the catalog does not know or a house of the bot does not
    allow (a house's `models` map is its allowlist)."""
    refs = [r for r in [config.model.primary, *(config.model.fallbacks or [])] if r]
    if not refs:
        return
    houses = (await session.scalars(
        select(House).join(HouseMember, HouseMember.house_id == House.id)
        .where(HouseMember.user_id == bot_id)
    )).all()
    allowlists = [HouseModels(h.settings.get("models") or {}, catalog) for h in houses]
    for ref in refs:
        for allowlist in allowlists or [None]:
            resolve_model(ref, catalog, allowlist)


def parse_setting(key: str, text: str, current: BotConfig) -> Any:
    """A PATCH value from text typed in chat or on the command line: `none` clears a key,
    numbers for counts, comma-separated lists, JSON for the tools policy; `model` takes a
    reference (keeping the current fallbacks) or a JSON object."""
    text = text.strip()
    if text.lower() in CLEAR_WORDS:
        return None
    if key in INTEGER_KEYS:
        try:
            return int(text)
        except ValueError:
            raise InvalidInput(f"{key} must be a whole number") from None
    if key in LIST_KEYS:
        return [item.strip() for item in text.split(",") if item.strip()]
    if key in JSON_KEYS or (key == "model" and text.startswith("{")):
        try:
            return parse_json(text, key, key)
        except UnusableText:
            raise
        except ValueError:
            raise InvalidInput(f"{key} must be JSON, e.g. "
                               '{"allow": ["*"], "deny": ["clearnote"]}') from None
    if key == "model":
        return {**current.model.model_dump(), "primary": text}
    return text
