"""What rooms need from the layers above them, as narrow protocols: the realtime gateway
that tells sockets, and the outbox that records events for webhooks."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from shoal.store.tables import Message, Room


class RoomBroadcaster(Protocol):
    """Tells a room's sockets what happened, in the order the room's log holds it."""

    def room_order(self, room_id: str) -> AbstractAsyncContextManager[None]:
        """Held from assigning a seq to emitting it."""
        ...

    async def emit_room(self, room_id: str, event: str, data: Any,
                        skip_sid: str | None = None) -> None:
        """Send an event to every socket joined to the room."""
        ...

    async def emit_message(self, room_id: str, view: dict[str, Any]) -> None:
        """Send a stored message to the room's sockets (bots' copies with signed links to
        its files)."""
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


class RoomEvents(Protocol):
    """Where a room write records what happened, inside its transaction (the webhook
    outbox), so an event is queued exactly when the change commits."""

    async def messages_created(self, session: AsyncSession,
                               written: Sequence[tuple[Any, Room, Message, str | None]]) -> None:
        """Messages just appended, each as (its append job, room, message, sender's handle)."""
        ...

    async def message_changed(self, session: AsyncSession, event: str, room: Room,
                              view: dict[str, Any]) -> None:
        """A message was edited or deleted (`message.updated`, `message.deleted`)."""
        ...

    async def member_changed(self, session: AsyncSession, event: str, room: Room,
                             user_id: str) -> None:
        """Someone joined or left the room (`member.joined`, `member.left`)."""
        ...
