"""A house's own slash commands: each one a `Command` in the registry whose handler POSTs the
call to the command's webhook. They are resolved per house and kept briefly in memory."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from sqlalchemy import select

from shoal.commands.invoke import call_webhook
from shoal.commands.registry import Arg, Command, CommandContext, CommandResult
from shoal.commands.tables import CustomCommand
from shoal.errors import Forbidden, NotFound
from shoal.net.outbound import Outbound, OutboundPolicy
from shoal.rooms.access import Action

if TYPE_CHECKING:
    from shoal.config import Settings
    from shoal.store.db import Database

# Another process (an API process, the CLI) may change a house's commands: this process sees
# the change within this many seconds, and at once when the change is made here. A call always
# reads the command's current row, so a removed or tightened command is never run as it was.
CACHE_SECONDS = 5.0
ARGS = (Arg("args", required=False, rest=True),)
DEFAULT_DESCRIPTION = "A command of this house, answered by its webhook."


class HouseCommands:
    """The registry's source of house commands: names to `Command`s, per house."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self._outbound: Outbound | None = None
        self._cache: dict[str, tuple[float, dict[str, Command]]] = {}

    @property
    def outbound(self) -> Outbound:
        """The outbound client under the operator's current policy."""
        policy = OutboundPolicy.from_settings(self.settings)
        if self._outbound is None or self._outbound.policy != policy:
            self._outbound = Outbound(policy)
        return self._outbound

    async def commands(self, house_id: str) -> Mapping[str, Command]:
        """The house's commands by name, from memory when recently read."""
        cached = self._cache.get(house_id)
        if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        async with self.db.read() as session:
            rows = (await session.scalars(
                select(CustomCommand).where(CustomCommand.house_id == house_id)
            )).all()
        found = {row.name: self._as_command(row) for row in rows}
        self._cache[house_id] = (time.monotonic(), found)
        return found

    def invalidate(self, house_id: str) -> None:
        """Forget the house's commands; the next lookup reads them again."""
        self._cache.pop(house_id, None)

    def _as_command(self, row: CustomCommand) -> Command:
        command_id = row.id

        async def run(ctx: CommandContext) -> CommandResult:
            return await self._run(ctx, command_id)

        return Command(row.name, row.description or DEFAULT_DESCRIPTION, run, args=ARGS,
                       example=f"/{row.name}", action=Action.POST, source="house",
                       family="house")

    async def _run(self, ctx: CommandContext, command_id: str) -> CommandResult:
        async with self.db.read() as session:
            row = await session.get(CustomCommand, command_id)
        if row is None or row.house_id != ctx.room.house_id:
            self.invalidate(ctx.room.house_id)
            raise NotFound(f"/{ctx.parsed.name} was removed from this house")
        check_may_invoke(row, ctx)
        return await call_webhook(ctx, row, self.outbound,
                                  self.settings.custom_command_timeout_seconds)


def check_may_invoke(row: CustomCommand, ctx: CommandContext) -> None:
    """Raise Forbidden unless the invoker may run the command. Posting in the room is checked
    by the runner already; closed commands are the owners', a whitelist names usernames."""
    if row.invoke_permission == "open" or ctx.access.role == "owner":
        return
    if row.invoke_permission == "whitelist":
        if ctx.invoker.username.lower() in {name.lower() for name in row.invoke_whitelist}:
            return
        raise Forbidden(f"you may not run /{row.name}: only its whitelist and the house "
                        "owner may")
    raise Forbidden(f"you may not run /{row.name}: it is closed to all but the house owner")
