"""Fixtures for the builtin runtime: a bot in a fresh house, activations built as the worker
builds them, and the server's model router pointed at the fake provider."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest

from shoal.agents.config import load_config
from shoal.auth.accounts import create_bot
from shoal.llm import Catalog, KeyRing, LLMConfig, ModelConfig, ModelRouter, ProviderConfig
from shoal.llm.fakeserver import FakeLLMServer
from shoal.rooms.houses import add_house_member
from shoal.rooms.rooms import join_room
from shoal.runtime.base import ActivationContext, Outcome
from shoal.runtime.builtin import BuiltinRuntime
from shoal.store.tables import Activation, House, Room, User, utcnow
from tests.support import House as TestHouse
from tests.support import ShoalServer, make_house

if TYPE_CHECKING:
    from shoal.core import Shoal

FAKE_MODEL = "openai/fake-gpt"
SMALL_MODEL = "openai/fake-small"  # the smallest window the router accepts


def builtin_runtime(shoal: Shoal) -> BuiltinRuntime:
    """A builtin runtime on the server's parts, wired as the server wires its own."""
    return BuiltinRuntime(shoal.db, shoal.chat, shoal.runs, shoal.tools, lambda: shoal.models,
                          shoal.secrets, shoal.settings, compactions=shoal.compactions)


@pytest.fixture(scope="session")
async def fake_server() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer() as server:
        yield server


@pytest.fixture
def fake(fake_server: FakeLLMServer, shoal_server: ShoalServer) -> Iterator[FakeLLMServer]:
    """The fake provider, answering for the server's `openai` provider during one test."""
    fake_server.reset()
    catalog = Catalog(LLMConfig(
        providers={"openai": ProviderConfig(kind="openai", base_url=fake_server.openai_base_url,
                                            api_key_env=["OPENAI_API_KEY"])},
        models={SMALL_MODEL: ModelConfig(context_window=16_000)}), env={})
    shoal = shoal_server.shoal
    saved = shoal.models
    shoal.models = ModelRouter(catalog, KeyRing(env={"OPENAI_API_KEY": "sk-test"}))
    yield fake_server
    shoal.models = saved


@dataclass
class Bench:
    """A house with people, a room, and a builtin bot that is a member of the room."""

    server: ShoalServer
    house: TestHouse
    bot_id: str

    @property
    def room_id(self) -> str:
        return self.house.room_id

    async def configure(self, **config: Any) -> None:
        """Replace the bot's stored configuration, as an edit does."""
        async with self.server.shoal.db.write() as session:
            bot = await session.get(User, self.bot_id)
            assert bot is not None
            bot.config = config

    async def say(self, content: str) -> dict[str, Any]:
        """The house member posts a chat message; returns it as the wire shows it."""
        r = await self.house.member.post(f"/api/agencies/{self.room_id}/messages",
                                         {"content": content})
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    async def context(self, trigger: dict[str, Any] | None, room_id: str | None = None
                      ) -> ActivationContext:
        """An activation of the bot for this trigger (in the bench's room unless told), with
        the bot's current record, recorded as running the way the worker records a claimed
        one."""
        shoal = self.server.shoal
        async with shoal.db.write() as session:
            bot = await session.get(User, self.bot_id)
            room = await session.get(Room, room_id or self.room_id)
            house = await session.get(House, self.house.id)
            assert bot is not None and room is not None and house is not None
            activation = Activation(
                bot_id=bot.id, house_id=house.id, room_id=room.id,
                trigger_message_id=trigger["id"] if trigger else None,
                trigger_kind="mention" if trigger else "heartbeat", status="running",
                lease_owner="test", lease_expires_at=utcnow() + timedelta(hours=1))
            session.add(activation)
            await session.flush()
        return ActivationContext(shoal.chat, shoal.gateway, activation, bot,
                                 load_config(bot.config), room, house, trigger,
                                 [trigger] if trigger else [])

    async def run(self, trigger: dict[str, Any] | None, ctx: ActivationContext | None = None
                  ) -> Outcome:
        """Run one activation with the builtin runtime and record it as done."""
        ctx = ctx or await self.context(trigger)
        outcome = await builtin_runtime(self.server.shoal).run(ctx)
        async with self.server.shoal.db.write() as session:
            row = await session.get(Activation, ctx.activation.id)
            assert row is not None
            row.status, row.outcome, row.lease_owner = "done", outcome.outcome, None
            row.reply_message_id = outcome.reply_message_id
        return outcome

    async def messages_after(self, seq: int) -> list[dict[str, Any]]:
        """What the room shows after a seq, oldest first, as its members read it."""
        r = await self.house.member.get(f"/api/agencies/{self.room_id}/messages",
                                        params={"after_seq": seq})
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]


@pytest.fixture
async def bench(shoal_server: ShoalServer) -> Bench:
    """A fresh house with a mention-triggered builtin bot `Scout` on the fake model."""
    house = await make_house(shoal_server)
    async with shoal_server.shoal.db.write() as session:
        owner = await session.get(User, house.owner.id)
        assert owner is not None
        bot = await create_bot(session, "Scout", owner.id, verified=True)
        bot.config = {"model": {"primary": FAKE_MODEL, "fallbacks": []}}
        await add_house_member(session, house.id, bot, "member")
        await join_room(session, house.room_id, bot.id)
        bot_id = bot.id
    return Bench(shoal_server, house, bot_id)
