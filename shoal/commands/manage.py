"""Registering, changing and removing a house's own commands: the rules the API and the CLI
share (names like built-ins' and never a built-in's, an http(s) webhook, who may invoke)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from shoal.commands.tables import CustomCommand
from shoal.errors import Conflict, InvalidInput, NotFound, ShoalError
from shoal.net.outbound import check_destination
from shoal.store.tables import iso, utcnow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from shoal.commands.registry import CommandRegistry
    from shoal.crypto import SecretBox
    from shoal.net.outbound import OutboundPolicy

PERMISSIONS = ("open", "closed", "whitelist")
NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")  # what the command parser reads as a name
USERNAME = re.compile(r"^[a-z0-9_.-]{1,64}$")
MAX_PER_HOUSE = 100  # each is also a tool in every agent's list
MAX_DESCRIPTION = 500
MAX_URL = 2000
MAX_WHITELIST = 200
MAX_SECRET = 500


@dataclass
class CommandFields:
    """What a create or an update sets; None leaves a field as it is. An empty `secret`
    removes the secret."""

    name: str | None = None
    webhook_url: str | None = None
    description: str | None = None
    invoke_permission: str | None = None
    invoke_whitelist: list[str] | None = None
    secret: str | None = None


@dataclass
class Rules:
    """What the checks need from the process: the registry (built-in names), the secret box
    and the outbound policy (an internal IP address is refused at once)."""

    registry: CommandRegistry
    secrets: SecretBox
    policy: OutboundPolicy


def check_name(name: str, registry: CommandRegistry) -> str:
    """The command's name in lower case, or InvalidInput / Conflict saying what is wrong."""
    name = name.strip().removeprefix("/").lower()
    if not NAME.match(name):
        raise InvalidInput("a command name is 1-32 letters, digits, _ or -, starting with a "
                           "letter (like standup or deploy-status)")
    if registry.is_builtin(name):
        raise Conflict(f"/{name} is a built-in command; a house command cannot take its name")
    return name


def check_webhook_url(url: str, policy: OutboundPolicy) -> str:
    """An http(s) URL with a host that the outbound policy lets Shoal call (see
    `check_destination`: a host name is checked again on every call, when it is resolved)."""
    url = url.strip()
    if not url or len(url) > MAX_URL or any(ch.isspace() for ch in url):
        raise InvalidInput(f"webhook_url must be an http(s) URL of at most {MAX_URL} "
                           "characters, without spaces")
    try:
        check_destination(url, policy, "webhook_url")
    except ShoalError as exc:
        raise InvalidInput(exc.message) from None
    return url


def check_whitelist(names: list[str]) -> list[str]:
    """Usernames, without @, in lower case, each once."""
    if len(names) > MAX_WHITELIST:
        raise InvalidInput(f"invoke_whitelist holds at most {MAX_WHITELIST} usernames")
    cleaned: dict[str, None] = {}
    for name in names:
        username = name.strip().removeprefix("@").lower()
        if not USERNAME.match(username):
            raise InvalidInput(f"invoke_whitelist: {name[:70]!r} is not a username")
        cleaned[username] = None
    return list(cleaned)


def _apply(row: CustomCommand, fields: CommandFields, rules: Rules) -> None:
    if fields.name is not None:
        row.name = check_name(fields.name, rules.registry)
    if fields.webhook_url is not None:
        row.webhook_url = check_webhook_url(fields.webhook_url, rules.policy)
    if fields.description is not None:
        if len(fields.description) > MAX_DESCRIPTION:
            raise InvalidInput(f"description is at most {MAX_DESCRIPTION} characters")
        row.description = fields.description.strip()
    if fields.invoke_permission is not None:
        if fields.invoke_permission not in PERMISSIONS:
            raise InvalidInput(f"invoke_permission is one of {', '.join(PERMISSIONS)}")
        row.invoke_permission = fields.invoke_permission
    if fields.invoke_whitelist is not None:
        row.invoke_whitelist = check_whitelist(fields.invoke_whitelist)
    if fields.secret is not None:
        if len(fields.secret) > MAX_SECRET:
            raise InvalidInput(f"secret is at most {MAX_SECRET} characters")
        row.secret = rules.secrets.encrypt(fields.secret) if fields.secret else None


async def _check_name_free(session: AsyncSession, house_id: str, name: str,
                           command_id: str | None = None) -> None:
    taken = await session.scalar(select(CustomCommand.id).where(
        CustomCommand.house_id == house_id, CustomCommand.name == name))
    if taken is not None and taken != command_id:
        raise Conflict(f"this house already has a command /{name}")


async def create_command(session: AsyncSession, house_id: str, fields: CommandFields,
                         rules: Rules, created_by: str | None) -> CustomCommand:
    """Register a command in the house."""
    if fields.name is None or fields.webhook_url is None:
        raise InvalidInput("name and webhook_url are required")
    count = await session.scalar(select(func.count()).select_from(CustomCommand).where(
        CustomCommand.house_id == house_id))
    if (count or 0) >= MAX_PER_HOUSE:
        raise InvalidInput(f"a house has at most {MAX_PER_HOUSE} commands; remove one first")
    row = CustomCommand(house_id=house_id, description="", invoke_permission="open",
                        invoke_whitelist=[], created_by=created_by)
    _apply(row, fields, rules)
    await _check_name_free(session, house_id, row.name)
    session.add(row)
    await _flush(session, row.name)
    return row


async def update_command(session: AsyncSession, row: CustomCommand, fields: CommandFields,
                         rules: Rules) -> CustomCommand:
    """Change some fields of a command."""
    _apply(row, fields, rules)
    await _check_name_free(session, row.house_id, row.name, row.id)
    row.updated_at = utcnow()
    await _flush(session, row.name)
    return row


async def get_command(session: AsyncSession, house_id: str, command_id: str) -> CustomCommand:
    """A command of the house, or NotFound."""
    row = await session.get(CustomCommand, command_id)
    if row is None or row.house_id != house_id:
        raise NotFound("command not found")
    return row


async def find_command(session: AsyncSession, house_id: str, name: str) -> CustomCommand:
    """A command of the house by name (with or without its /), or NotFound."""
    row = await session.scalar(select(CustomCommand).where(
        CustomCommand.house_id == house_id,
        CustomCommand.name == name.strip().removeprefix("/").lower()))
    if row is None:
        raise NotFound(f"this house has no command /{name.strip().removeprefix('/')}")
    return row


async def house_commands(session: AsyncSession, house_id: str) -> list[CustomCommand]:
    """The house's commands, by name."""
    return list((await session.scalars(select(CustomCommand).where(
        CustomCommand.house_id == house_id).order_by(CustomCommand.name))).all())


def command_view(row: CustomCommand) -> dict[str, Any]:
    """A command as the API shows it; the secret only says whether there is one."""
    return {"id": row.id, "name": row.name, "description": row.description,
            "webhook_url": row.webhook_url, "invoke_permission": row.invoke_permission,
            "invoke_whitelist": list(row.invoke_whitelist), "has_secret": bool(row.secret),
            "created_at": iso(row.created_at), "updated_at": iso(row.updated_at)}


async def _flush(session: AsyncSession, name: str) -> None:
    # Two owners registering the same name at once: the unique constraint decides.
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict(f"this house already has a command /{name}") from None
