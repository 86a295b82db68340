"""Bots and a stand-in runtime for dispatch and worker tests."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from shoal.auth.accounts import create_bot
from shoal.rooms.houses import add_house_member
from shoal.rooms.rooms import join_room
from shoal.runtime.base import ActivationContext, Outcome
from shoal.store.tables import Activation
from tests.support import House, ShoalServer, unique


class ScriptedRuntime:
    """Answers every activation by replying with `reply(ctx)`; can be told to wait."""

    def __init__(self) -> None:
        self.runs: list[ActivationContext] = []
        self.gate: asyncio.Event | None = None
        # Mentions are dropped from the echo so a reply wakes nobody else.
        self.reply = lambda ctx: heard(ctx.bot.username, ctx.trigger["content"])

    async def run(self, ctx: ActivationContext) -> Outcome:
        self.runs.append(ctx)
        if self.gate is not None:
            await self.gate.wait()
        if ctx.interrupted.is_set():
            return Outcome("skipped", skip_reason="interrupted")
        text = self.reply(ctx)
        message = await ctx.reply(text)
        return Outcome("replied", reply_message_id=message["id"], model="scripted",
                       input_tokens=10, output_tokens=5)


def heard(username: str, content: str) -> str:
    """The scripted runtime's default reply."""
    return f"{username} heard: {content.replace('@', '')}"


@pytest.fixture
async def scripted(shoal_server: ShoalServer) -> AsyncIterator[ScriptedRuntime]:
    """The builtin runtime replaced by a scripted one for the test."""
    runtimes = shoal_server.shoal.worker.runtimes
    saved = runtimes.get("builtin")
    runtime = ScriptedRuntime()
    runtimes["builtin"] = runtime  # type: ignore[assignment]
    yield runtime
    if runtime.gate is not None:
        runtime.gate.set()
    await shoal_server.shoal.worker.drain()
    if saved is None:
        runtimes.pop("builtin")
    else:
        runtimes["builtin"] = saved


async def make_bot(server: ShoalServer, house: House, name: str | None = None,
                   **config: Any) -> dict[str, str]:
    """A verified bot in the house and its public room, with the given configuration."""
    async with server.shoal.db.write() as session:
        bot = await create_bot(session, name or unique("Bot "), house.owner.id, verified=True)
        bot.config = config
        member = await add_house_member(session, house.id, bot, "member")
        await join_room(session, house.room_id, bot.id)
    return {"id": bot.id, "username": bot.username, "handle": member.handle}


async def activations(server: ShoalServer, bot_id: str) -> list[Activation]:
    """The bot's activations, oldest first."""
    async with server.shoal.db.read() as session:
        return list((await session.scalars(
            select(Activation).where(Activation.bot_id == bot_id)
            .order_by(Activation.created_at, Activation.id))).all())


async def room_messages(server: ShoalServer, house: House) -> list[dict[str, Any]]:
    """The room's history, oldest first."""
    r = await house.owner.get(f"/api/agencies/{house.room_id}/messages",
                              params={"after_seq": 0, "limit": 100})
    return r.json()  # type: ignore[no-any-return]


# Two worker processes need a database that several processes share.
collect_ignore = [] if os.environ.get("SHOAL_TEST_DATABASE_URL") else [
    "test_worker_processes.py"]
