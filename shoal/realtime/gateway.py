"""The Socket.IO gateway: authenticated sockets, room fan-out in seq order, presence."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import redis.asyncio as aioredis
import socketio

from shoal import metrics
from shoal.errors import InvalidInput, ShoalError
from shoal.files import with_signed_links
from shoal.ids import new_id
from shoal.jsontext import check_json, find_flaw
from shoal.logs import log_context, new_request_id
from shoal.realtime.fanout import LocalFanout, RedisFanout

if TYPE_CHECKING:
    from shoal.auth.tokens import Principal
    from shoal.files import LinkSigner
    from shoal.store.tables import User

log = logging.getLogger("shoal.realtime")
EventHandler = Callable[["SocketState", dict[str, Any]], Awaitable[Any]]
Authenticator = Callable[[str], Awaitable["Principal"]]


AgentStatus = Literal["idle", "thinking", "running"]
# How long a process's word that a bot's socket is in a room lasts unless renewed: a process
# that dies without saying goodbye stops counting after this.
PRESENCE_TTL_SECONDS = 60
# What a socket that is being closed answers an event it sent too late: nothing was done, and
# the client sends it again once reconnected (the SDK does so by itself).
CLOSING = {"ok": False, "reconnect": True,
           "error": "this server is restarting: reconnect and send it again (nothing was done)"}
# How long a draining process waits for told sockets to hang up before it closes them itself.
HANG_UP_SECONDS = 5


@dataclass
class SocketState:
    """What the gateway remembers about one connected socket."""

    sid: str
    principal: Principal
    rooms: set[str] = field(default_factory=set)
    handling: set[asyncio.Task[Any]] = field(default_factory=set)  # its events in progress
    closing: bool = False  # told to reconnect: events it sends from now on are not handled


class Gateway:
    """Wraps python-socketio: socket auth, the contract's events, and emits to rooms/users."""

    def __init__(self, authenticate: Authenticator, *, redis_url: str | None,
                 redis_prefix: str, allowed_origins: list[str], max_body_bytes: int,
                 signer: LinkSigner | None = None) -> None:
        """`authenticate` turns a handshake's bearer token into its principal; with a
        `redis_url`, emits and revocations reach every process sharing it; `signer` gives
        bots' copies of messages signed links to their files."""
        self._signer = signer
        manager: LocalFanout = LocalFanout()
        self._redis: aioredis.Redis | None = None
        self._revoked_channel = revoked_channel(redis_prefix)
        self._redis_prefix = redis_prefix
        self._process = new_id()  # this process, in the shared record of bots in rooms
        if redis_url:
            manager = RedisFanout(redis_url, channel=f"{redis_prefix}:socketio")
            self._redis = aioredis.from_url(redis_url)
        self._listener: asyncio.Task[None] | None = None
        self._renewer: asyncio.Task[None] | None = None
        self._authenticate = authenticate
        self.sio = socketio.AsyncServer(
            async_mode="asgi",
            client_manager=manager,
            cors_allowed_origins=allowed_origins or None,
            max_http_buffer_size=max_body_bytes,
        )
        self.sockets: dict[str, SocketState] = {}
        self._by_token: dict[str, set[str]] = defaultdict(set)
        self._room_locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._closing: set[asyncio.Task[None]] = set()
        self.sio.on("connect", self._connect)
        self.sio.on("disconnect", self._disconnect)

    def on(self, event: str, handler: EventHandler) -> None:
        """Register a handler that gets the socket's state and an object payload.
        A refused request answers `error {message}` and, with an ack, `{ok: false, error}`;
        so does a payload holding text that cannot be stored, before any handler sees it."""

        received = metrics.socket_events.labels(event)  # looked up once, not per event

        async def wrapped(sid: str, data: Any = None) -> Any:
            received.inc()
            state = self.sockets.get(sid)
            if state is None:
                return {"ok": False, "error": "not connected"}
            if state.closing:
                return CLOSING
            task = asyncio.current_task()  # python-socketio sends the ack from this task
            assert task is not None
            state.handling.add(task)
            task.add_done_callback(state.handling.discard)
            with log_context(request_id=new_request_id()):
                try:
                    if data is None:
                        data = {}
                    if not isinstance(data, dict):
                        raise InvalidInput("payload must be an object")
                    return await handler(state, check_json(data))
                except ShoalError as exc:
                    await self.sio.emit("error", {"message": exc.message, "event": event},
                                        to=sid)
                    return {"ok": False, "error": exc.message}
                except Exception:
                    log.exception("socket event %s failed", event)
                    message = "internal error; the server logged the details"
                    await self.sio.emit("error", {"message": message, "event": event}, to=sid)
                    return {"ok": False, "error": message}

        self.sio.on(event, wrapped)

    async def _connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        flaw = find_flaw(auth, "auth")
        if flaw is not None:
            raise socketio.exceptions.ConnectionRefusedError(flaw)
        token = _handshake_token(environ, auth)
        if not token:
            raise socketio.exceptions.ConnectionRefusedError(
                "authentication required: pass auth.token"
            )
        try:
            principal = await self._authenticate(token)
        except ShoalError as exc:
            metrics.socket_connects.labels("refused").inc()
            raise socketio.exceptions.ConnectionRefusedError(exc.message) from None
        metrics.socket_connects.labels("accepted").inc()
        metrics.socket_connections.inc()
        self.sockets[sid] = SocketState(sid, principal)
        self._by_token[principal.token_id].add(sid)
        await self.sio.enter_room(sid, user_room(principal.id))

    async def _disconnect(self, sid: str, *_: Any) -> None:
        state = self.sockets.pop(sid, None)
        if state is None:
            return
        metrics.socket_connections.dec()
        sids = self._by_token.get(state.principal.token_id)
        if sids is not None:
            sids.discard(sid)
            if not sids:
                del self._by_token[state.principal.token_id]
        for room_id in state.rooms:
            if not self.is_online_in(state.principal.id, room_id):
                await self._record_absence(state, room_id)
                await self.emit_room(room_id, "member-presence", presence(state, room_id, False))

    def is_online_in(self, user_id: str, room_id: str) -> bool:
        """Whether the user has a socket (in this process) joined to the room."""
        return any(s.principal.id == user_id and room_id in s.rooms for s in self.sockets.values())

    async def bot_in_room(self, bot_id: str, room_id: str) -> bool:
        """Whether a socket of the bot is joined to the room, in this process or (with Redis)
        in any process of the cluster: whether a message posted there reached it."""
        if self.is_online_in(bot_id, room_id):
            return True
        if self._redis is None:
            return False
        live = await self._redis.zcount(self._presence_key(bot_id, room_id), time.time(), "+inf")
        return bool(live)

    def _presence_key(self, bot_id: str, room_id: str) -> str:
        return f"{self._redis_prefix}:bot-in-room:{room_id}:{bot_id}"

    async def _record_presence(self, bot_id: str, room_id: str) -> None:
        if self._redis is not None:
            key = self._presence_key(bot_id, room_id)
            await self._redis.zadd(key, {self._process: time.time() + PRESENCE_TTL_SECONDS})
            await self._redis.expire(key, PRESENCE_TTL_SECONDS)

    async def _record_absence(self, state: SocketState, room_id: str) -> None:
        """Called once none of the user's sockets in this process is in the room."""
        if self._redis is not None and state.principal.user.kind == "bot":
            await self._redis.zrem(self._presence_key(state.principal.id, room_id),
                                   self._process)

    def _bots_in_rooms(self) -> set[tuple[str, str]]:
        return {(s.principal.id, room_id) for s in self.sockets.values()
                if s.principal.user.kind == "bot" for room_id in s.rooms}

    async def _renew_presence(self) -> None:
        while True:
            await asyncio.sleep(PRESENCE_TTL_SECONDS / 3)
            try:
                for bot_id, room_id in self._bots_in_rooms():
                    await self._record_presence(bot_id, room_id)
            except Exception:  # Redis away for a moment: the next round tries again
                log.exception("renewing the record of bots in rooms failed")

    def online_users(self) -> set[str]:
        """Users with at least one socket connected to this process."""
        return {s.principal.id for s in self.sockets.values()}

    @asynccontextmanager
    async def room_order(self, room_id: str) -> AsyncIterator[None]:
        """Held from assigning a seq to emitting it, so this process emits a room's messages
        in seq order and a replay on join cannot interleave with live messages."""
        async with self._room_locks[room_id]:
            yield

    async def emit_room(self, room_id: str, event: str, data: Any, skip_sid: str | None = None
                        ) -> None:
        """Send an event to every socket joined to the room."""
        await self.sio.emit(event, data, to=[room_key(room_id), bots_key(room_id)],
                            skip_sid=skip_sid)

    async def emit_message(self, room_id: str, view: dict[str, Any]) -> None:
        """Send a stored message to the room's sockets: people get it as it is (their
        browsers read its files with their session), bots with a signed link to each file."""
        linked = self.for_bots(view)
        if linked is view:
            await self.emit_room(room_id, "message", view)
            return
        await self.sio.emit("message", view, room=room_key(room_id))
        await self.sio.emit("message", linked, room=bots_key(room_id))

    def for_bots(self, view: dict[str, Any]) -> dict[str, Any]:
        """A message view as bots get it: a copy whose files each carry `signed_url` and
        `signed_url_expires`, so an agent can hand a file on to a program without its token
        (the view itself when it carries no files)."""
        items = view.get("attachments")
        if not items or self._signer is None:
            return view
        return {**view, "attachments": with_signed_links(self._signer, items)}

    def for_socket(self, state: SocketState, view: dict[str, Any]) -> dict[str, Any]:
        """A message view as this socket gets it (see `for_bots`)."""
        return self.for_bots(view) if state.principal.user.kind == "bot" else view

    async def emit_agent_status(self, room_id: str, agent: User, status: AgentStatus,
                                detail: str | None = None, skip_sid: str | None = None
                                ) -> None:
        """Tell a room what an agent is doing: the contract's `agent-status` (idle, thinking,
        running; for bots only) and the `agent-thinking` indicator that goes with it."""
        who = {"agencyId": room_id, "agentId": agent.id, "userId": agent.id,
               "username": agent.username, "displayName": agent.display_name}
        await self.emit_room(room_id, "agent-thinking",
                             {**who, "thinking": status != "idle", "status": detail}, skip_sid)
        if agent.kind == "bot":
            await self.emit_room(room_id, "agent-status",
                                 {**who, "status": status, "detail": detail}, skip_sid)

    async def emit_user(self, user_id: str, event: str, data: Any) -> None:
        """Send an event to every socket of one user."""
        await self.sio.emit(event, data, room=user_room(user_id))

    async def emit_room_and_user(self, room_id: str, user_id: str, event: str, data: Any
                                 ) -> None:
        """Send an event to a room and to one user's sockets; a socket in both gets it once."""
        await self.sio.emit(event, data,
                            to=[room_key(room_id), bots_key(room_id), user_room(user_id)])

    async def enter(self, state: SocketState, room_id: str) -> None:
        """Subscribe a socket to a room's events (a bot's to the room's bot side, where
        messages carry signed links to their files)."""
        await self.sio.enter_room(state.sid, socket_room(state, room_id))
        state.rooms.add(room_id)
        if state.principal.user.kind == "bot":
            await self._record_presence(state.principal.id, room_id)

    async def leave(self, state: SocketState, room_id: str) -> None:
        """Unsubscribe a socket from a room's events."""
        await self.sio.leave_room(state.sid, socket_room(state, room_id))
        state.rooms.discard(room_id)
        if not self.is_online_in(state.principal.id, room_id):
            await self._record_absence(state, room_id)

    async def remove_user_from_room(self, user_id: str, room_id: str) -> None:
        """Unsubscribe all of a user's sockets from a room they lost access to."""
        for state in [s for s in self.sockets.values() if s.principal.id == user_id]:
            if room_id in state.rooms:
                await self.leave(state, room_id)

    async def disconnect_tokens(self, token_ids: list[str]) -> None:
        """Close every socket opened with one of these (now revoked) tokens, in this process
        and, through Redis, in every other process of the cluster."""
        await self._disconnect_local(token_ids)
        if self._redis is not None and token_ids:
            await self._redis.publish(self._revoked_channel, json.dumps(token_ids))

    async def _disconnect_local(self, token_ids: list[str]) -> None:
        for token_id in token_ids:
            for sid in list(self._by_token.get(token_id, ())):
                task = asyncio.create_task(self._close(self.sockets[sid]), name="shoal-close")
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)

    async def _close(self, state: SocketState, timeout: float | None = None) -> None:
        """Disconnect a socket once every event it sent before has been answered, and
        answer `CLOSING` to what it sends meanwhile: so an event still unanswered when the
        client hears the disconnect was not handled, and is safe to send again."""
        state.closing = True
        pending = state.handling - {asyncio.current_task()}
        if pending:
            await asyncio.wait(pending, timeout=timeout)
        await self.sio.disconnect(state.sid)

    async def drain(self, timeout: float) -> None:
        """Tell every socket of this process to reconnect (to another process, behind a load
        balancer), each once its events in progress are answered, waiting at most `timeout`
        for them; then give the clients a moment to hang up."""
        states = list(self.sockets.values())
        for state in states:
            state.closing = True  # at once for all: none starts new work from here
        await asyncio.gather(*(self._close(state, timeout) for state in states), *self._closing)
        log.info("told %d socket(s) to reconnect elsewhere", len(states))
        deadline = time.monotonic() + HANG_UP_SECONDS
        while self.sio.eio.sockets and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    async def ping_redis(self) -> bool | None:
        """Whether Redis answers a ping (None when this process uses no Redis)."""
        if self._redis is None:
            return None
        try:
            await asyncio.wait_for(self._redis.ping(), 5)
        except Exception:
            return False
        return True

    async def start(self) -> None:
        """Listen for revocations announced by other processes, and keep this process's
        record of bots in rooms fresh (when Redis is configured)."""
        if self._redis is None:
            return
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(self._revoked_channel)
        self._listener = asyncio.create_task(self._listen(pubsub), name="shoal-revocations")
        self._renewer = asyncio.create_task(self._renew_presence(), name="shoal-bot-presence")

    async def _listen(self, pubsub: Any) -> None:
        try:
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    await self._disconnect_local(json.loads(message["data"]))
        finally:
            await pubsub.aclose()

    async def stop(self) -> None:
        """Stop listening, withdraw this process's bots from the shared record, and close
        the Redis connection."""
        tasks = [t for t in (self._listener, self._renewer) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._redis is not None:
            for bot_id, room_id in self._bots_in_rooms():
                with suppress(Exception):  # expiry withdraws it anyway
                    await self._redis.zrem(self._presence_key(bot_id, room_id), self._process)
            await self._redis.aclose()


def revoked_channel(prefix: str) -> str:
    """The Redis channel on which processes announce revoked tokens."""
    return f"{prefix}:revoked-tokens"


async def announce_revoked(redis_url: str, prefix: str, token_ids: list[str]) -> None:
    """Tell every Shoal process sharing this Redis to close sockets of these tokens
    (for revocations made outside a server, such as `shoal token revoke`)."""
    client = aioredis.from_url(redis_url)
    try:
        await client.publish(revoked_channel(prefix), json.dumps(token_ids))
    finally:
        await client.aclose()


def room_key(room_id: str) -> str:
    """The Socket.IO room a Shoal room's events go to."""
    return f"room:{room_id}"


def bots_key(room_id: str) -> str:
    """The Socket.IO room of a Shoal room's bot sockets: every room event reaches them too,
    and messages reach them with signed links to their files."""
    return f"room:{room_id}:bots"


def socket_room(state: SocketState, room_id: str) -> str:
    """The Socket.IO room a socket joins for a Shoal room."""
    return bots_key(room_id) if state.principal.user.kind == "bot" else room_key(room_id)


def user_room(user_id: str) -> str:
    """The Socket.IO room holding all of one user's sockets."""
    return f"user:{user_id}"


def presence(state: SocketState, room_id: str, online: bool) -> dict[str, Any]:
    """The `member-presence` payload."""
    user = state.principal.user
    return {"agencyId": room_id, "userId": user.id, "username": user.username, "online": online}


def _handshake_token(environ: dict[str, Any], auth: Any) -> str | None:
    token = auth.get("token") if isinstance(auth, dict) else None
    if isinstance(token, str):
        return token
    # Never from the query string: URLs end up in access logs.
    header: str = environ.get("HTTP_AUTHORIZATION", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return None
