"""Which model the relevance gate asks: the house's, the server's, the house's first allowed
model, the server's primary; never silently the offline model beside a provider with a key."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from shoal.dispatch.gates import relevance_model
from shoal.llm import Catalog, KeyRing, ModelRouter, ProfileBook
from shoal.rooms.house_settings import updated_settings
from shoal.store.tables import House
from tests.support import unique


def router(**keys: str) -> ModelRouter:
    return ModelRouter(Catalog(env={}), KeyRing(env=keys), ProfileBook())


def house(**settings: Any) -> House:
    return House(id="house-1", name="Lab", settings=settings)


@pytest.mark.parametrize(("settings", "llm", "expected"), [
    ({"relevance_model": "openai/gpt-5-mini"}, {"relevance_model": "haiku"},
     "openai/gpt-5-mini"),
    ({}, {"relevance_model": "haiku", "primary": "sonnet"}, "haiku"),
    ({"models": {"openai/gpt-5": {}, "openai/gpt-5-mini": {}}}, {"relevance_model": "haiku"},
     "openai/gpt-5"),  # the server's choice is not allowed in this house
    ({"models": {"openai/gpt-5": {}, "anthropic/claude-haiku-4-5": {"alias": "quick"}}},
     {"relevance_model": "quick"}, "quick"),
    ({}, {"primary": "sonnet"}, "sonnet"),
    ({}, {}, "offline"),  # no provider has a key: offline is all there is
], ids=["house", "server", "allowlist-first", "server-alias-allowed", "primary", "offline"])
async def test_the_relevance_model_is_chosen_in_order(
        settings: dict[str, Any], llm: dict[str, Any], expected: str) -> None:
    assert await relevance_model(router(), llm, house(**settings)) == expected


async def test_a_provider_with_a_key_answers_instead_of_the_offline_primary(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="shoal.dispatch"):
        chosen = await relevance_model(router(ANTHROPIC_API_KEY="sk-a"), {},
                                       House(id=unique("house"), name="Lab", settings={}))
    assert chosen == "anthropic/claude-haiku-4-5"
    assert "asking anthropic/claude-haiku-4-5 instead" in caplog.text
    # An explicit choice of the offline model is honoured.
    assert await relevance_model(router(ANTHROPIC_API_KEY="sk-a"), {},
                                 house(relevance_model="offline/shoal-offline")
                                 ) == "offline/shoal-offline"
    assert await relevance_model(router(GEMINI_API_KEY="g"), {}, House(
        id="house-2", name="Other", settings={})) == "google/gemini-2.5-flash"


async def test_the_first_allowed_model_is_the_first_the_owner_listed() -> None:
    models = router()
    # Stored as the settings API stores it: in the owner's order, whatever the database.
    stored = updated_settings({}, {"models": {"sonnet": {}, "gpt-mini": {}, "haiku": {}}},
                              models.catalog)
    assert await relevance_model(models, {}, house(**stored)) == "anthropic/claude-sonnet-4-5"
