"""Reactions over the socket: `add-reaction` and `remove-reaction` {messageId, emoji}."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shoal.errors import InvalidInput

if TYPE_CHECKING:
    from shoal.realtime.gateway import Gateway, SocketState
    from shoal.rooms.reactions import Reactions


def register_reaction_events(gateway: Gateway, reactions: Reactions) -> None:
    """Attach the reaction events; each acks with the message's reactions."""

    def message_id_of(data: dict[str, Any]) -> str:
        message_id = data.get("messageId")
        if not isinstance(message_id, str) or not message_id:
            raise InvalidInput("messageId is required")
        return message_id

    async def add(state: SocketState, data: dict[str, Any]) -> dict[str, Any]:
        answer = await reactions.add(state.principal.user, message_id_of(data), data.get("emoji"))
        return {"ok": True, **answer}

    async def remove(state: SocketState, data: dict[str, Any]) -> dict[str, Any]:
        answer = await reactions.remove(state.principal.user, message_id_of(data),
                                        data.get("emoji"))
        return {"ok": True, **answer}

    gateway.on("add-reaction", add)
    gateway.on("remove-reaction", remove)
