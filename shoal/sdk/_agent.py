"""`Agent`: an agent's own process connected to Shoal over REST and Socket.IO."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import json
import logging
import ssl
import time
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import socketio

from shoal.sdk._errors import AuthError, CommandError, CommandTimeout, NotConnected, RequestError
from shoal.sdk._heard import Heard
from shoal.sdk._models import CommandResult, Message
from shoal.sdk._runs import Run
from shoal.sdk._subagents import Subagent
from shoal.sdk._trace import Trace

if TYPE_CHECKING:
    from types import TracebackType

log = logging.getLogger("shoal.sdk")
Handler = TypeVar("Handler", bound=Callable[..., Any])
RUN_EVENTS = ("agent-run-permission-response", "agent-run-interrupt")
LINK_MARGIN_SECONDS = 60  # a carried file link with less time left than this is renewed


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every agent in the process: each one built loads the whole CA
    bundle again, which costs more than a whole connect over loopback."""
    return httpx.create_ssl_context()


class Agent:
    """A bot connected with its agent token: joins rooms, hears and sends messages, runs
    commands, traces and runs. Reconnects by itself and resumes every room from its last seq."""

    def __init__(self, api_url: str, agent_token: str, *, reconnect_delay: float = 0.25,
                 reconnect_delay_max: float = 5.0) -> None:
        self.api_url = api_url.rstrip("/")
        self.user: dict[str, Any] = {}
        self.current_room: str | None = None
        self._agent_token = agent_token
        self._token: str | None = None
        self._delays = (reconnect_delay, reconnect_delay_max)
        self._heard: defaultdict[str, Heard] = defaultdict(Heard)  # by room: seqs heard there
        self._handlers: dict[str, list[Callable[..., Any]]] = defaultdict(list)
        self._runs: dict[str, Run] = {}
        self._http: httpx.AsyncClient | None = None
        self._sio: socketio.AsyncClient | None = None
        self._dropped: asyncio.Future[str] | None = None  # the socket's end, with why
        self._ready = asyncio.Event()
        self._closed = asyncio.Event()
        self._reconnecting: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def username(self) -> str:
        """The agent's username, which is also its @handle."""
        return str(self.user.get("username", ""))

    @property
    def connected(self) -> bool:
        """Whether the socket is up and every joined room has been resumed."""
        return self._ready.is_set()

    async def connect(self) -> None:
        """Exchange the agent token for a session and open the socket; raises AuthError."""
        self._closed.clear()
        self._http = httpx.AsyncClient(base_url=self.api_url, timeout=30, verify=_tls())
        await self._login()
        await self._open_socket()
        self._ready.set()

    async def connect_and_join(self, room: str) -> str:
        """Connect, then join one room (id or slug); returns the room id."""
        await self.connect()
        return await self.join(room)

    async def join(self, room: str) -> str:
        """Join a room by id or slug and make it the current room; returns its id."""
        rooms = await self._get("/api/agencies")
        room_id = next((r["id"] for r in rooms if room in (r["id"], r.get("slug"))), room)
        ack = await self._call("join-agency", {"agencyId": room_id})
        # Messages may have arrived between entering the room and this ack.
        self._heard[room_id].heard_through(int(ack.get("lastSeq") or 0))
        self.current_room = room_id
        return str(room_id)

    async def join_all(self) -> list[str]:
        """Join every room the agent is a member of; returns their ids."""
        rooms = await self._get("/api/agencies")
        return [await self.join(r["id"]) for r in rooms if r.get("isMember")]

    def on(self, event: str, callback: Handler | None = None) -> Any:
        """Call `callback` (sync or async) for every `event`; without one, a decorator.
        `message` handlers get a Message, others the event's payload."""
        def register(handler: Handler) -> Handler:
            self._handlers[event].append(handler)
            return handler
        return register(callback) if callback is not None else register

    async def send(self, content: str, *, type: str | None = None,
                   metadata: dict[str, Any] | None = None, room: str | None = None,
                   attachments: list[dict[str, Any] | str] | None = None) -> Message:
        """Post a message to `room` (default: the current room), maybe with files uploaded
        with `upload` (their answers or ids); returns it as stored."""
        data: dict[str, Any] = {"agencyId": self._room(room), "content": content}
        if attachments:
            data["attachments"] = [a["id"] if isinstance(a, dict) else a for a in attachments]
        if type is not None:
            data["type"] = type
        if metadata is not None:
            data["metadata"] = metadata
        ack = await self._call("send-message", data)
        return Message.from_wire(ack["message"])

    async def edit(self, message_id: str, content: str, *, room: str | None = None) -> Message:
        """Replace the content of one of the agent's messages."""
        ack = await self._call("edit-message", {"agencyId": self._room(room),
                                                "messageId": message_id, "content": content})
        return Message.from_wire(ack["message"])

    async def upload(self, data: bytes, name: str, content_type: str, *,
                     room: str | None = None) -> dict[str, Any]:
        """Upload a file to `room`; answers `{id, name, size, content_type, url}`, to pass to
        `send(..., attachments=[...])`."""
        http = self._client()
        try:
            r = await http.post(f"/api/agencies/{self._room(room)}/attachments",
                                files={"file": (name, data, content_type)})
        except httpx.HTTPError as exc:
            raise NotConnected(f"{self.api_url} did not answer: {exc}") from None
        if r.status_code >= 400:
            raise RequestError(_error_of(r), r.status_code)
        return r.json()  # type: ignore[no-any-return]

    async def download(self, attachment: dict[str, Any] | str) -> bytes:
        """The bytes of a file a message carries (its entry in `message.raw["attachments"]`,
        or its id), read with the agent's session."""
        attachment_id = attachment["id"] if isinstance(attachment, dict) else attachment
        http = self._client()
        try:
            r = await http.get(f"/api/attachments/{attachment_id}")
        except httpx.HTTPError as exc:
            raise NotConnected(f"{self.api_url} did not answer: {exc}") from None
        if r.status_code >= 400:
            raise RequestError(_error_of(r), r.status_code)
        return r.content

    async def attachment_link(self, attachment: dict[str, Any] | str) -> str:
        """A short-lived signed link to a file, for a program without the agent's session:
        the one the message brought (`signed_url`) while it has a minute left, else a new one."""
        if isinstance(attachment, dict):
            carried, expires = attachment.get("signed_url"), attachment.get("signed_url_expires")
            if (isinstance(carried, str) and isinstance(expires, int)
                    and expires - time.time() > LINK_MARGIN_SECONDS):
                return carried
        attachment_id = attachment["id"] if isinstance(attachment, dict) else attachment
        http = self._client()
        r = await http.post(f"/api/attachments/{attachment_id}/link")
        if r.status_code >= 400:
            raise RequestError(_error_of(r), r.status_code)
        return str(r.json()["url"])

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            raise NotConnected("the agent is not connected; call connect() first")
        return self._http

    async def react(self, message: Message | str, emoji: str) -> dict[str, Any]:
        """React to a message with one emoji: an acknowledgement that posts nothing and wakes
        no agent. Answers the message's reactions (`count`, `users`, `reactions`)."""
        message_id = message.id if isinstance(message, Message) else message
        return await self._call("add-reaction", {"messageId": message_id, "emoji": emoji})

    async def unreact(self, message: Message | str, emoji: str) -> dict[str, Any]:
        """Take back the agent's reaction to a message."""
        message_id = message.id if isinstance(message, Message) else message
        return await self._call("remove-reaction", {"messageId": message_id, "emoji": emoji})

    async def get_recent_messages(self, limit: int = 50, *, room: str | None = None
                                  ) -> list[Message]:
        """The room's latest `limit` (at most 100) messages, oldest first: context for a model."""
        rows = await self._get(f"/api/agencies/{self._room(room)}/messages",
                               params={"limit": limit})
        return [Message.from_wire(row) for row in reversed(rows)]

    async def execute_command(self, cmd: str, timeout: float = 15, silent: bool = True, *,
                              room: str | None = None) -> CommandResult:
        """Run a slash command; silent results come back only to the agent. Raises
        CommandError when it fails and CommandTimeout when it gets no answer in time."""
        text = cmd if cmd.startswith("/") else f"/{cmd}"
        name = text[1:].split(" ", 1)[0]
        data = {"agencyId": self._room(room), "content": text, "silent": silent}
        try:
            ack = await self._ack("send-message", data, timeout)
        except TimeoutError:
            raise CommandTimeout(text, timeout) from None
        if not isinstance(ack, dict) or not ack.get("ok"):
            error = ack.get("error") if isinstance(ack, dict) else None
            raise CommandError(str(error or f"/{name} failed"), name)
        return CommandResult.from_ack(ack, name)

    def start_trace(self) -> Trace:
        """A trace that times silent commands, to attach to a reply as metadata."""
        return Trace(self)

    async def start_run(self, trigger: Message | str | None = None, *, name: str | None = None,
                        description: str | None = None, room: str | None = None) -> Run:
        """Start a run people can watch (in the trigger's room, else `room` or the current
        one): status, tool cards, streamed text, permission requests, interrupts."""
        room_id = trigger.agency_id if isinstance(trigger, Message) else self._room(room)
        trigger_id = trigger.id if isinstance(trigger, Message) else trigger
        run = Run(self, room_id, trigger_id, name, description)
        self._runs[run.id] = run
        await run._start()
        return run

    async def spawn(self, task: str, *, room: str | None = None, label: str | None = None,
                    agent: str | None = None, model: str | None = None,
                    run_timeout_seconds: int | None = None, cleanup: str = "keep",
                    announce: str = "none") -> Subagent:
        """Spawn a builtin sub-agent on a task (in `room`, else the current one), as this
        agent or as `agent` (an @handle its `subagents.allow_agents` lists); `await` the
        handle for its end. `announce="room"` also posts the end in the room."""
        body: dict[str, Any] = {"roomId": self._room(room), "task": task, "cleanup": cleanup,
                                "announce": announce}
        extra = {"label": label, "agentId": agent, "model": model,
                 "run_timeout_seconds": run_timeout_seconds}
        body.update({k: v for k, v in extra.items() if v is not None})
        return Subagent(self, await self._post("/api/subagents", body))

    async def wait_closed(self) -> None:
        """Wait until `close()`: how an agent script keeps serving."""
        await self._closed.wait()

    async def close(self) -> None:
        """Disconnect for good: no reconnect follows."""
        self._closed.set()
        self._ready.clear()
        if self._reconnecting is not None:
            self._reconnecting.cancel()
        if self._sio is not None:
            await self._sio.disconnect()
        if self._http is not None:
            await self._http.aclose()

    async def __aenter__(self) -> Agent:
        await self.connect()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    # Plumbing shared with Run and Trace.

    async def _ack(self, event: str, data: dict[str, Any], timeout: float = 10) -> Any:
        """Emit with an ack once connected; raises TimeoutError when none comes in time.
        A server that restarts answers every event it took before it disconnects, and what
        it answers "reconnect" it did not do: such an event goes again once reconnected, as
        does one the socket could not send because it was closing."""
        while True:
            sio = await self._socket()
            dropped = self._dropped
            assert dropped is not None  # set with the socket
            call = asyncio.ensure_future(sio.call(event, data, timeout=timeout))
            await asyncio.wait((call, dropped), return_when=asyncio.FIRST_COMPLETED)
            if not call.done():
                call.cancel()
                if dropped.result() != sio.reason.SERVER_DISCONNECT:
                    raise NotConnected(f"the connection dropped ({dropped.result()}) before "
                                       f"{event} was answered; it may or may not have been done")
                continue  # the server hung up without answering: it did not take it
            try:
                ack = call.result()
            except socketio.exceptions.TimeoutError:
                raise TimeoutError(event) from None
            except socketio.exceptions.SocketIOError as exc:
                if sio.connected:
                    raise NotConnected(f"{event} was not sent: {exc}") from None
                ack = {"reconnect": True}  # it went nowhere: the socket was closing
            if not (isinstance(ack, dict) and ack.get("reconnect")):
                return ack
            with contextlib.suppress(TimeoutError):  # the server hangs up next
                await asyncio.wait_for(asyncio.shield(dropped), timeout)

    async def _call(self, event: str, data: dict[str, Any], timeout: float = 10) -> dict[str, Any]:
        """Emit with an ack and raise RequestError on a refusal or no answer."""
        try:
            ack = await self._ack(event, data, timeout)
        except TimeoutError:
            raise RequestError(f"{event} got no answer within {timeout:g} s") from None
        if isinstance(ack, dict) and ack.get("ok") is False:
            raise RequestError(str(ack.get("error") or f"{event} was refused"))
        return ack if isinstance(ack, dict) else {}

    async def _emit(self, event: str, data: dict[str, Any]) -> None:
        """Emit without waiting for an answer (stream deltas)."""
        sio = await self._socket()
        await sio.emit(event, data)

    def _spawn(self, handler: Callable[..., Any], *args: Any) -> None:
        """Call a user callback; an async one runs as its own task so it may await the server
        (socket handlers run inside the socket's read loop)."""
        try:
            result = handler(*args)
        except Exception:
            log.exception("handler %r failed", handler)
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("handler failed", exc_info=task.exception())

    def _room(self, room: str | None) -> str:
        room_id = room or self.current_room
        if room_id is None:
            raise NotConnected("join a room first, or pass room=")
        return room_id

    async def _socket(self) -> socketio.AsyncClient:
        # During a reconnect, wait for it rather than fail: the caller's event goes out after.
        if self._closed.is_set() or self._sio is None:
            raise NotConnected("the agent is not connected; call connect() first")
        try:
            await asyncio.wait_for(self._ready.wait(), 30)
        except TimeoutError:
            raise NotConnected("the agent lost its connection and could not reconnect") from None
        return self._sio

    async def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        try:
            r = await self._client().get(path, params=params)
        except httpx.HTTPError as exc:
            raise NotConnected(f"{self.api_url} did not answer: {exc}") from None
        if r.status_code >= 400:
            raise RequestError(_error_of(r), r.status_code)
        return r.json()

    async def _post(self, path: str, body: dict[str, Any]) -> Any:
        if self._http is None:
            raise NotConnected("the agent is not connected; call connect() first")
        try:
            r = await self._http.post(path, content=_ascii_json(body),
                                      headers={"Content-Type": "application/json"})
        except httpx.HTTPError as exc:
            raise NotConnected(f"{self.api_url} did not answer: {exc}") from None
        if r.status_code >= 400:
            raise RequestError(_error_of(r), r.status_code)
        return r.json()

    async def _login(self) -> None:
        assert self._http is not None
        r = await self._http.post("/api/auth/agent", content=_ascii_json(
            {"agentToken": self._agent_token}), headers={"Content-Type": "application/json"})
        if r.status_code in (401, 403):
            raise AuthError(_error_of(r))
        if r.status_code >= 400:
            raise RequestError(_error_of(r), r.status_code)
        body = r.json()
        self._token, self.user = body["token"], body["user"]
        self._http.headers["Authorization"] = f"Bearer {self._token}"

    async def _open_socket(self) -> None:
        # A fresh client per connection: python-socketio does not reconnect after a
        # server-side disconnect, so the Agent runs its own reconnect loop.
        sio = socketio.AsyncClient(reconnection=False)
        dropped: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        sio.on("message", self._on_message)
        sio.on("disconnect", lambda reason=None: self._on_disconnect(dropped, reason))
        for event in RUN_EVENTS:
            sio.on(event, lambda data, event=event: self._on_run_event(event, data))
        sio.on("*", lambda event, data=None: self._dispatch(event, data))
        try:
            await sio.connect(self.api_url, auth={"token": self._token},
                              transports=["websocket"], wait_timeout=10)
        except socketio.exceptions.ConnectionError as exc:
            raise NotConnected(f"could not connect to {self.api_url}: {exc}") from None
        self._sio, self._dropped = sio, dropped

    def _on_message(self, data: dict[str, Any]) -> None:
        message = Message.from_wire(data)
        room = message.agency_id
        if message.seq is not None and not self._heard[room].first_time(message.seq):
            return  # already heard: a replay overlapping what arrived live
        self._dispatch("message", message)

    def _dispatch(self, event: str, payload: Any) -> None:
        for handler in list(self._handlers.get(event, ())):
            self._spawn(handler, payload)

    def _on_run_event(self, event: str, data: dict[str, Any]) -> None:
        run = self._runs.get(str(data.get("runId")))
        if run is not None:
            run._receive(event, data)
        self._dispatch(event, data)

    def _on_disconnect(self, dropped: asyncio.Future[str], reason: str | None) -> None:
        if not dropped.done():  # why this connection ended, for the calls waiting on it
            dropped.set_result(reason or "")
        self._ready.clear()
        if not self._closed.is_set() and self._reconnecting is None:
            self._reconnecting = asyncio.ensure_future(self._reconnect())

    async def _reconnect(self) -> None:
        delay, delay_max = self._delays
        try:
            while not self._closed.is_set():
                await asyncio.sleep(delay)
                delay = min(delay * 2, delay_max)
                try:
                    await self._open_socket()
                    for room, heard in list(self._heard.items()):
                        assert self._sio is not None
                        ack = await self._sio.call(
                            "join-agency", {"agencyId": room, "lastSeq": heard.resume_after},
                            timeout=10)
                        if ack.get("reconnect"):  # this process is restarting too
                            raise NotConnected("the server is restarting")
                        if not ack.get("ok"):
                            log.warning("could not rejoin %s: %s", room, ack.get("error"))
                            self._heard.pop(room, None)
                except (NotConnected, socketio.exceptions.SocketIOError):
                    if self._sio is not None and self._sio.connected:
                        await self._sio.disconnect()
                    # Perhaps the session itself was revoked: exchange the agent token again.
                    await self._relogin()
                    continue
                self._ready.set()
                return
        finally:
            self._reconnecting = None

    async def _relogin(self) -> None:
        try:
            await self._login()
        except AuthError as exc:
            log.error("agent token refused, giving up: %s", exc)
            self._closed.set()
        except (httpx.HTTPError, RequestError):
            pass  # the server is still away; the loop tries again


def _error_of(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}"


def _ascii_json(value: Any) -> bytes:
    # ASCII escapes, as the socket client sends: text httpx cannot encode (a lone surrogate)
    # reaches the server, which names the field it refuses, instead of failing here.
    return json.dumps(value, separators=(",", ":")).encode()
