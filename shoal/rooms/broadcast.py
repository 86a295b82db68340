"""What rooms need from the realtime layer, as narrow protocols the gateway satisfies."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol


class RoomBroadcaster(Protocol):
    """Tells a room's sockets what happened, in the order the room's log holds it."""

    def room_order(self, room_id: str) -> AbstractAsyncContextManager[None]:
        """Held from assigning a seq to emitting it."""
        ...

    async def emit_room(self, room_id: str, event: str, data: Any,
                        skip_sid: str | None = None) -> None:
        """Send an event to every socket joined to the room."""
        ...


class MemberBroadcaster(Protocol):
    """Tells rooms and people about membership, and knows who is online."""

    async def emit_room(self, room_id: str, event: str, data: Any,
                        skip_sid: str | None = None) -> None:
        """Send an event to every socket joined to the room."""
        ...

    async def emit_user(self, user_id: str, event: str, data: Any) -> None:
        """Send an event to every socket of one user."""
        ...

    def is_online_in(self, user_id: str, room_id: str) -> bool:
        """Whether the user has a socket joined to the room."""
        ...

    async def remove_user_from_room(self, user_id: str, room_id: str) -> None:
        """Unsubscribe all of a user's sockets from a room they lost access to."""
        ...
