"""Messages that arrive through hooks: posted by the system under the hook's name, so the
agents they @mention wake as they would for a person, and edited only by the hook itself."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from shoal.auth.ratelimit import AttemptLimiter
from shoal.errors import Forbidden, InvalidInput, NotFound, RateLimited, TooLarge, Unauthorized
from shoal.hooks.manage import hook_by_key, key_matches
from shoal.hooks.sources import SOURCES, Delivery, Source, parse_payload
from shoal.hooks.tables import Hook
from shoal.hooks.template import render
from shoal.rooms.chat import edited_event
from shoal.rooms.messages import (
    check_content,
    check_metadata,
    check_type,
    edit_message,
    get_message,
    message_with_sender,
)
from shoal.store.tables import Room
from shoal.webhooks.queue import queue_event

if TYPE_CHECKING:
    from shoal.crypto import SecretBox
    from shoal.realtime.gateway import Gateway
    from shoal.rooms.chat import Chat
    from shoal.rooms.messages import Limits
    from shoal.store import Database

KEY_HEADERS = ("x-crustocean-hook-key", "x-shoal-hook-key")


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The hook key a request carries: in `X-Crustocean-Hook-Key` (the contract's header),
    `X-Shoal-Hook-Key`, or as a bearer token that is a hook key."""
    for name in KEY_HEADERS:
        if headers.get(name, "").strip():
            return headers[name].strip()
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip().startswith("shk_"):
        return token.strip()
    return None


class HookService:
    """Posts and edits hook messages and runs the receivers; one per process."""

    def __init__(self, db: Database, chat: Chat, gateway: Gateway, secrets: SecretBox,
                 limits: Limits, *, per_minute: int) -> None:
        self.db = db
        self.chat = chat
        self.gateway = gateway
        self.secrets = secrets
        self.limits = limits
        self.per_minute = per_minute
        self.limiter = AttemptLimiter(per_minute)

    async def authenticate(self, headers: Mapping[str, str]) -> Hook:
        """The live hook whose key the request carries, or Unauthorized."""
        key = presented_key(headers)
        if key is None:
            raise Unauthorized("hook key required: send X-Crustocean-Hook-Key: <key>")
        async with self.db.read() as session:
            return await hook_by_key(session, key)

    async def post(self, hook: Hook, room_ref: str | None, content: object, *,
                   type: object = None, metadata: object = None) -> dict[str, Any]:
        """Post into one of the hook's rooms as the hook; returns the stored message."""
        limits = self.limits
        text = check_content(content, limits)
        meta = {**check_metadata(metadata, limits), "hook": {"id": hook.id, "name": hook.name}}
        return await self._append(hook, await self._room(hook, room_ref), text,
                                  check_type(type), meta)

    async def edit(self, hook: Hook, message_id: str, content: object,
                   metadata: object = None) -> dict[str, Any]:
        """Replace the content (and metadata, if given) of a message this hook posted."""
        limits = self.limits
        text = check_content(content, limits)
        meta = check_metadata(metadata, limits) if metadata is not None else None
        self._count(hook)
        async with self.db.write() as session:
            message = await get_message(session, message_id)
            posted_by = message.meta.get("hook") if message.sender_id is None else None
            if not isinstance(posted_by, dict) or posted_by.get("id") != hook.id:
                raise Forbidden("a hook may only edit the messages it posted")
            if message.room_id not in hook.room_ids:
                raise Forbidden("this hook no longer posts to that room")
            room = await session.get(Room, message.room_id)
            assert room is not None
            if meta is not None:
                meta = {**meta, "hook": posted_by}
            await edit_message(session, message, room.house_id, text, meta)
            view = await message_with_sender(session, message, room)
            await queue_event(session, "message.updated", room=room, message=view)
        await self.gateway.emit_room(room.id, "message-edited", edited_event(view))
        return view

    async def receive(self, hook_id: str, source_name: str, headers: Mapping[str, str],
                      body: bytes, room_ref: str | None) -> dict[str, Any]:
        """Check a delivery from GitHub, Sentry or any sender, and post what it says."""
        source = SOURCES[source_name]
        async with self.db.read() as session:
            hook = await session.get(Hook, hook_id)
        if hook is None:
            raise NotFound("hook not found")
        if hook.revoked_at is not None:
            raise Unauthorized("this hook has been revoked")
        self._check_delivery(hook, source, headers, body)
        room = await self._room(hook, room_ref)
        delivery = source.delivery(headers, parse_payload(body, headers.get("content-type", "")))
        return await self._append(hook, room, self._content(hook, delivery), "chat",
                                  self._metadata(hook, delivery))

    def _check_delivery(self, hook: Hook, source: Source, headers: Mapping[str, str],
                        body: bytes) -> None:
        """A delivery carries the hook's key, or is signed with its secret the sender's way."""
        key = presented_key(headers)
        if key is not None:
            if not key_matches(hook, key):
                raise Unauthorized("invalid hook key")
            return
        try:
            secret = self.secrets.decrypt(hook.secret)
        except ValueError:
            raise Unauthorized("this hook's secret can no longer be read (the server secret "
                               "changed); set it again") from None
        verdict = source.verify(secret, headers, body)
        if verdict is None:
            raise Unauthorized(f"sign the delivery with the hook's secret "
                               f"({source.signature_header}) or send the hook key in "
                               "X-Crustocean-Hook-Key")
        if not verdict:
            raise Unauthorized("the delivery's signature does not match the hook's secret")

    def _content(self, hook: Hook, delivery: Delivery) -> str:
        if hook.template.strip():
            data = {**delivery.payload, "shoal": {
                "event": delivery.event, "summary": delivery.summary,
                "source": delivery.source, "hook": hook.name}}
            content = render(hook.template, data)
        else:
            content = delivery.summary
        if not content.strip():
            raise InvalidInput("nothing to post: the hook has no template and the delivery has "
                               "no content, text, message or title field")
        cap = self.limits.max_content_chars
        return content if len(content) <= cap else content[:cap - 1] + "…"

    def _metadata(self, hook: Hook, delivery: Delivery) -> dict[str, Any]:
        """Where the message came from and, when it fits, the delivery's payload."""
        about = {"id": hook.id, "name": hook.name, "source": delivery.source,
                 "event": delivery.event, "delivery_id": delivery.delivery_id}
        try:
            return check_metadata({"hook": {**about, "payload": delivery.payload}},
                                  self.limits)
        except (TooLarge, InvalidInput):
            return {"hook": {**about, "payload_omitted": True}}

    async def _room(self, hook: Hook, room_ref: str | None) -> Room:
        """The hook's room a request names (by id or slug), or its only room."""
        async with self.db.read() as session:
            rooms = (await session.scalars(select(Room).where(Room.id.in_(hook.room_ids)))).all()
        if room_ref is None:
            if len(rooms) == 1:
                return rooms[0]
            raise InvalidInput("say which room: this hook posts to "
                               + ", ".join(f"#{r.slug}" for r in rooms))
        for room in rooms:
            if room_ref in (room.id, room.slug, f"#{room.slug}"):
                return room
        raise Forbidden("this hook does not post to that room")

    def _count(self, hook: Hook) -> None:
        """Count one post or edit against the hook's rate, or RateLimited."""
        try:
            self.limiter.hit(hook.id)
        except RateLimited as exc:
            raise RateLimited(f"hook {hook.name!r} may post {self.per_minute} messages a "
                              f"minute; try again in {exc.retry_after} seconds",
                              exc.retry_after) from None

    async def _append(self, hook: Hook, room: Room, content: str, kind: str,
                      metadata: dict[str, Any]) -> dict[str, Any]:
        """Post as the hook, within its rate."""
        self._count(hook)
        return await self.chat.post_system(room.id, content, sender_name=hook.name,
                                                 type=kind, metadata=metadata)
