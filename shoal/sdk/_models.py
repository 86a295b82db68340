"""Typed views of what the server sends: messages, command results, run interrupts."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal


def _metadata(value: object) -> dict[str, Any]:
    # The contract lets metadata arrive as an object or as a JSON string.
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Message:
    """One chat message as the contract describes it; `raw` keeps every field the server sent."""

    id: str
    content: str
    agency_id: str
    sender_id: str
    sender_username: str
    sender_display_name: str
    sender_type: str
    type: str = "chat"
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""
    seq: int | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Message:
        """Build a Message from the server's JSON object."""
        return cls(
            id=str(data.get("id", "")),
            content=str(data.get("content", "")),
            agency_id=str(data.get("agency_id") or data.get("agencyId") or ""),
            sender_id=str(data.get("sender_id", "")),
            sender_username=str(data.get("sender_username", "")),
            sender_display_name=str(data.get("sender_display_name") or ""),
            sender_type=str(data.get("sender_type", "")),
            type=str(data.get("type") or "chat"),
            metadata=_metadata(data.get("metadata")),
            created_at=str(data.get("created_at", "")),
            seq=data.get("seq") if isinstance(data.get("seq"), int) else None,
            raw=data,
        )


@dataclass(frozen=True)
class CommandResult:
    """A slash command's answer. `ok` is False only for a failed step recorded in a Trace."""

    ok: bool
    command: str
    content: str
    type: str = "system"
    ephemeral: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    message_id: str | None = None

    @classmethod
    def from_ack(cls, ack: dict[str, Any], command: str) -> CommandResult:
        """Build a result from a `send-message` ack."""
        return cls(
            ok=bool(ack.get("ok")),
            command=str(ack.get("command") or command),
            content=str(ack.get("content", "")),
            type=str(ack.get("type") or "system"),
            ephemeral=bool(ack.get("ephemeral", False)),
            metadata=_metadata(ack.get("metadata")),
            message_id=ack.get("messageId"),
        )


@dataclass(frozen=True)
class Interrupt:
    """A person stopped a run, or adjusted it with a message."""

    action: Literal["stop", "adjust"]
    message: str | None = None
