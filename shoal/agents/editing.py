"""Editing a bot's record, the one way the API, `/agent customize` and `shoal bot edit` share:
patch, validate (model references against the catalog and the bot's houses), store."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from shoal.agents.config import BotConfig, apply_patch, load_config
from shoal.errors import InvalidInput, NotFound
from shoal.jsontext import UnusableText, parse_json
from shoal.llm import HouseModels, resolve_model
from shoal.llm.agentaccess import OLLAMA
from shoal.net.outbound import AddressRefused, check_destination
from shoal.store.tables import House, HouseMember, User

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from shoal.crypto import SecretBox
    from shoal.llm import Catalog
    from shoal.net.outbound import OutboundPolicy
    from shoal.store.db import Database

INTEGER_KEYS = {"max_hops", "daily_token_budget"}
LIST_KEYS = {"trigger_whitelist", "fallbacks"}
JSON_KEYS = {"tools", "identity", "human_delay"}
CLEAR_WORDS = {"none", "null", "default"}


async def edit_bot_config(db: Database, box: SecretBox, catalog: Catalog, bot_id: str,
                          patch: dict[str, Any], policy: OutboundPolicy) -> BotConfig:
    """Apply a PATCH to a bot's configuration and store it; InvalidInput names what is wrong.
    `policy` is the operator's outbound policy, for the bot's own endpoints. The next
    activation reads the new record."""
    async with db.write() as session:
        bot = await session.get(User, bot_id)
        if bot is None or bot.kind != "bot" or bot.deleted_at is not None:
            raise NotFound("agent not found")
        stored = apply_patch(bot.config, patch, box)
        config = load_config(stored)
        if config.response_webhook_url is not None:
            try:
                check_destination(config.response_webhook_url, policy, "response_webhook_url")
            except AddressRefused as exc:
                raise InvalidInput(exc.message) from None
        providers = await check_models(session, catalog, bot_id, config)
        check_model_access(config, catalog, providers, policy)
        bot.config = stored
    return config


async def check_models(session: AsyncSession, catalog: Catalog, bot_id: str,
                       config: BotConfig) -> set[str]:
    """Refuse model references the catalog does not know or a house of the bot does not
    allow (a house's `models` map is its allowlist). Returns the providers of the bot's own
    models."""
    refs = [r for r in [config.model.primary, *(config.model.fallbacks or [])] if r]
    if config.image_model is not None:
        refs += [r for r in [config.image_model.primary, *(config.image_model.fallbacks or [])]
                 if r]
    if not refs:
        return set()
    houses = (await session.scalars(
        select(House).join(HouseMember, HouseMember.house_id == House.id)
        .where(HouseMember.user_id == bot_id)
    )).all()
    allowlists: list[HouseModels | None] = [
        HouseModels(h.settings.get("models") or {}, catalog) for h in houses]
    providers = set()
    for ref in refs:
        for allowlist in allowlists or [None]:
            providers.add(resolve_model(ref, catalog, allowlist).provider.name)
    return providers


def check_model_access(config: BotConfig, catalog: Catalog, providers: set[str],
                       policy: OutboundPolicy) -> None:
    """Refuse an own provider, key or Ollama endpoint that no call of the bot would use,
    rather than store it and run on something else. `providers` are those of its models."""
    if config.llm_api_key is not None and config.llm_provider is None:
        raise InvalidInput("llm_api_key needs llm_provider, the provider the key is for "
                           "(e.g. openai)")
    if config.llm_provider is not None:
        spec = catalog.provider(config.llm_provider)
        if spec is None:
            raise InvalidInput(f"llm_provider {config.llm_provider!r} is not a provider this "
                               f"server knows; known: {', '.join(sorted(catalog.providers))}")
        if config.llm_api_key is not None and spec.kind == "offline":
            raise InvalidInput(f"llm_provider {spec.name!r} takes no API key")
        if spec.name not in providers:
            raise InvalidInput(
                f"llm_provider {spec.name!r} is used only for the agent's own models, and "
                f"none of them is from {spec.name}: set model to one, e.g. "
                f'"{spec.name}/<model>", in the same change')
    if config.ollama_endpoint is not None:
        check_ollama_endpoint(config.ollama_endpoint, catalog, providers, policy)


def check_ollama_endpoint(endpoint: str, catalog: Catalog, providers: set[str],
                          policy: OutboundPolicy) -> None:
    """An http(s) URL the outbound policy lets Shoal call (an IP address is checked now, a
    host name on every call), for a bot that has an Ollama model."""
    try:
        check_destination(endpoint, policy, "ollama_endpoint")
    except AddressRefused as exc:
        raise InvalidInput(exc.message) from None
    ollama = catalog.provider(OLLAMA)
    if ollama is None or ollama.kind != "openai":
        raise InvalidInput("ollama_endpoint needs the ollama provider to speak the OpenAI API, "
                           "as it does unless the operator changed it")
    if OLLAMA not in providers:
        raise InvalidInput('ollama_endpoint is used only for the agent\'s Ollama models, and '
                           'it has none: set model (or ollama_model) to one, e.g. '
                           '"ollama/llama3.2", in the same change')


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
    if key in JSON_KEYS or (key in ("model", "image_model") and text.startswith("{")):
        try:
            return parse_json(text, key, key)
        except UnusableText:
            raise
        except ValueError:
            raise InvalidInput(f"{key} must be JSON, e.g. "
                               '{"allow": ["*"], "deny": ["clearnote"]}') from None
    if key == "model":
        return {**current.model.model_dump(), "primary": text}
    if key == "image_model":
        chosen = current.image_model.model_dump() if current.image_model else {}
        return {**chosen, "primary": text}
    return text
