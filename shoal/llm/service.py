"""Assemble the model layer for a Shoal server from its settings and database."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shoal.llm.catalog import Catalog, LLMConfig
from shoal.llm.keys import DbFailureSink, KeyRing, KeyStore
from shoal.llm.profiles import Clock, ProfileBook
from shoal.llm.router import ModelRouter
from shoal.net.outbound import OutboundPolicy

if TYPE_CHECKING:
    from shoal.config import Settings
    from shoal.store.db import Database


async def build_router(
    settings: Settings, db: Database | None = None, clock: Clock | None = None
) -> ModelRouter:
    """A router using the `[llm]` configuration, env keys, and, with a database, stored
    keys and shared cooldowns."""
    config = LLMConfig.parse(settings.llm)
    catalog = Catalog(config)
    outbound = OutboundPolicy.from_settings(settings)
    if db is None:
        return ModelRouter(
            catalog, KeyRing(), ProfileBook(clock), deadline_seconds=config.deadline_seconds,
            outbound=outbound,
        )
    sink = DbFailureSink(db)
    book = ProfileBook(clock, sink=sink, states=await sink.load())
    keys = KeyRing(store=KeyStore(db, settings.ensure_secret()))
    return ModelRouter(
        catalog, keys, book, deadline_seconds=config.deadline_seconds, outbound=outbound
    )


def default_chain(settings: Settings) -> list[str]:
    """The server's default primary model followed by its default fallbacks."""
    config = LLMConfig.parse(settings.llm)
    return [config.primary, *config.fallbacks]
