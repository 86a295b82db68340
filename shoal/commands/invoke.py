"""Calling a house command's webhook: the contract's payload out, its answer read back as a
`CommandResult`, every failure as an error the invoker can read."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from shoal.commands.parser import ParsedCommand, ParseError, parse_command
from shoal.commands.registry import CommandResult
from shoal.crypto import signed_headers
from shoal.errors import ShoalError, UpstreamError
from shoal.jsontext import UnusableText
from shoal.rooms.messages import check_content, check_metadata
from shoal.store.tables import User

if TYPE_CHECKING:
    from shoal.commands.registry import CommandContext
    from shoal.commands.tables import CustomCommand
    from shoal.net.outbound import Outbound

log = logging.getLogger("shoal.commands.custom")

RESULT_TYPES = ("tool_result", "system", "chat")
MAX_ERROR_CHARS = 300
MAX_SENDER_CHARS = 64


async def call_webhook(ctx: CommandContext, row: CustomCommand, outbound: Outbound,
                       timeout: float) -> CommandResult:
    """POST the call to the command's webhook and read its answer; UpstreamError says why
    there is none (refused address, timeout, an error answer, a malformed one)."""
    secret = None
    if row.secret:
        try:
            secret = ctx.services.secrets.decrypt(row.secret)
        except ValueError:
            raise UpstreamError(f"/{row.name} cannot be signed: its secret was sealed with "
                                "another server secret; the house owner must set it again"
                                ) from None
    body = json.dumps(await command_payload(ctx, row), separators=(",", ":")).encode()
    headers = signed_headers(body, secret, event="command")
    try:
        answer = await outbound.request("POST", row.webhook_url, content=body, headers=headers,
                                        timeout=timeout)
    except ShoalError as exc:
        # The outbound errors name the origin only, never the URL's path or query.
        log.info("/%s of house %s failed: %s", row.name, row.house_id, exc.message)
        raise UpstreamError(f"/{row.name} failed: {exc.message}") from None
    try:
        data = answer.json()
    except UnusableText as exc:
        raise UpstreamError(f"/{row.name}: the webhook's answer was refused: {exc.message}"
                            ) from None
    except ValueError:
        data = None
    if not 200 <= answer.status < 300:
        detail = data.get("error") if isinstance(data, dict) else None
        reason = f"the webhook answered HTTP {answer.status}"
        raise UpstreamError(f"/{row.name} failed: " + (_short(detail) if detail else reason))
    return read_answer(ctx, row, data)


def read_answer(ctx: CommandContext, row: CustomCommand, data: Any) -> CommandResult:
    """The webhook's 2xx answer as a result, or UpstreamError naming what is wrong with it."""
    where = f"/{row.name}: the webhook"
    if not isinstance(data, dict):
        raise UpstreamError(f"{where} answered something that is not a JSON object")
    if data.get("error"):
        raise UpstreamError(f"/{row.name} failed: {_short(data['error'])}")
    kind = data.get("type") or "tool_result"
    if kind not in RESULT_TYPES:
        raise UpstreamError(f"{where} answered type {str(kind)[:40]!r}; the type is one of "
                            f"{', '.join(RESULT_TYPES)}")
    try:
        content = check_content(data.get("content"), ctx.services.limits)
        metadata = check_metadata(data.get("metadata"), ctx.services.limits)
    except ShoalError as exc:
        raise UpstreamError(f"{where} answered an unusable content or metadata: "
                            f"{exc.message}") from None
    name = data.get("sender_display_name") or data.get("sender_username")
    if isinstance(data.get("sender_username"), str):
        metadata = {**metadata, "sender_username": data["sender_username"][:MAX_SENDER_CHARS]}
    return CommandResult(
        content, type=kind, metadata=metadata,
        ephemeral=data.get("ephemeral") is True,
        broadcast=data.get("broadcast") is not False,
        sender_name=name[:MAX_SENDER_CHARS] if isinstance(name, str) and name.strip() else None,
    )


async def command_payload(ctx: CommandContext, row: CustomCommand) -> dict[str, Any]:
    """The contract's call: `{agencyId, command, rawArgs, positional, flags, creator,
    sender}`."""
    positional, flags = _arguments(ctx.parsed)
    creator = None
    if row.created_by is not None:
        async with ctx.services.db.read() as session:
            user = await session.get(User, row.created_by)
        creator = user.username if user is not None else None
    invoker = ctx.invoker
    return {
        "agencyId": ctx.room.id,
        "command": row.name,
        "rawArgs": ctx.parsed.raw_args,
        "positional": positional,
        "flags": flags,
        "creator": creator,
        "sender": {"userId": invoker.id, "username": invoker.username,
                   "displayName": invoker.display_name,
                   "type": "agent" if invoker.kind == "bot" else "user"},
    }


def _arguments(parsed: ParsedCommand) -> tuple[list[str], dict[str, str | bool]]:
    # A person's command was split as typed. An agent's tool call brings its arguments as one
    # text; split it the same way, or, if it will not split (a lone apostrophe), by spaces.
    if parsed.positional or parsed.flags or not parsed.raw_args:
        return list(parsed.positional), dict(parsed.flags)
    try:
        again = parse_command(f"/{parsed.name} {parsed.raw_args}")
    except ParseError:
        return parsed.raw_args.split(), {}
    return again.positional, again.flags


def _short(detail: object) -> str:
    text = str(detail).replace("\x00", "")
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"
