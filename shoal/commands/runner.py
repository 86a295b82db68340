"""Running a command text for someone in a room, with the contract's ack as the answer."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from shoal.commands.parser import ParsedCommand, ParseError, parse_command
from shoal.commands.registry import (
    CommandContext,
    CommandRegistry,
    CommandServices,
    UsageError,
    listing,
)
from shoal.errors import ShoalError
from shoal.rooms.access import Action, authorize, room_access

if TYPE_CHECKING:
    from shoal.rooms.chat import Chat
    from shoal.store.db import Database
    from shoal.store.tables import User

log = logging.getLogger("shoal.commands")


class CommandRunner:
    """Runs command texts for people, agents and the REST API: parse, authorize, call the
    handler with its services, answer with the contract's ack."""

    def __init__(self, db: Database, registry: CommandRegistry, chat: Chat,
                 services: CommandServices) -> None:
        self.db = db
        self.registry = registry
        self.chat = chat
        self.services = services

    async def help_listing(self, house_id: str) -> str:
        """Every command that runs in the house, with its usage and description."""
        return listing(await self.registry.available(house_id))

    async def run_command(
        self, invoker: User, room_id: str, text: str, *, post_result: bool,
        raise_refusals: bool = False,
    ) -> dict[str, Any]:
        """Parse, authorize and run a command. Returns the ack; with `post_result` a
        non-ephemeral result is also posted in the room as a system message. With
        `raise_refusals`, a refusal that is not about the command's arguments (NotFound,
        Forbidden, a failed webhook) is raised with its own status (REST answers with it)
        instead of becoming a failed ack."""
        try:
            parsed = parse_command(text)
        except ParseError as exc:
            return {"ok": False, "error": f"could not read the command: {exc}"}
        return await self.run_parsed(invoker, room_id, parsed, post_result=post_result,
                                     raise_refusals=raise_refusals)

    async def run_parsed(
        self, invoker: User, room_id: str, parsed: ParsedCommand, *, post_result: bool,
        raise_refusals: bool = False,
    ) -> dict[str, Any]:
        """Run an already parsed command exactly as `run_command` does; agents' tool calls come
        here with their arguments as given, so no quoting round trip can mangle them."""
        async with self.db.read() as session:
            access = await room_access(session, invoker.id, room_id)
        command = await self.registry.resolve(access.house_id, parsed.name)
        try:
            # Even the help listing of an unknown command is only for those who can read the room.
            authorize(access, command.action if command else Action.READ)
        except ShoalError as exc:
            if raise_refusals:
                raise
            return {"ok": False, "command": parsed.name, "error": exc.message}
        if command is None:
            return {
                "ok": False,
                "command": parsed.name,
                "error": f"unknown command /{parsed.name}. "
                         f"{await self.help_listing(access.house_id)}",
            }
        try:
            args = command.bind(parsed)
            assert access.room is not None
            ctx = CommandContext(self.services, invoker, access.room, access, parsed, args)
            result = await command.handler(ctx)
        except UsageError as exc:
            example = f" Example: {command.example}" if command.example else ""
            return {"ok": False, "command": command.name,
                    "error": f"/{command.name}: {exc.message}. Usage: {command.usage}.{example}"}
        except ShoalError as exc:
            if raise_refusals and exc.status != UsageError.status:
                raise
            return {"ok": False, "command": command.name, "error": exc.message}
        except Exception:
            log.exception("command /%s failed", command.name)
            return {"ok": False, "command": command.name,
                    "error": f"/{command.name} failed unexpectedly; the server logged the details"}
        ack: dict[str, Any] = {"ok": True, "command": command.name, "content": result.content,
                               "type": result.type}
        if result.metadata:
            ack["metadata"] = result.metadata
        if result.ephemeral:
            ack["ephemeral"] = True
        elif post_result and result.broadcast and access.allows(Action.POST):
            metadata = {**result.metadata, "command": command.name,
                        "invoked_by": {"id": invoker.id, "username": invoker.username}}
            posted = await self.chat.post_system(room_id, result.content, type=result.type,
                                                 metadata=metadata,
                                                 sender_name=result.sender_name or "System")
            ack["messageId"] = posted["id"]
        return ack
