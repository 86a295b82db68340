"""Room fan-out: one encoded packet queued on every recipient socket in turn, and each
socket's writer waiting on its queue directly."""

from __future__ import annotations

import asyncio
from types import MethodType
from typing import Any

import socketio
from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket
from socketio import packet


async def _next_packets(socket: AsyncSocket) -> list[eio_packet.Packet]:
    """engine.io's `AsyncSocket.poll` for a WebSocket's writer, waiting on the queue itself
    where engine.io waits through `asyncio.wait_for` (a task and a timer for every packet,
    about half of a delivery's CPU at a hundred sockets in a room). Its timeout adds nothing
    here: the server pings every socket through this queue well within it, and the socket's
    reader, which has the same timeout, ends this wait with None when the socket goes."""
    if not socket.upgraded:  # a long-polling request: engine.io's own
        return await AsyncSocket.poll(socket)  # type: ignore[no-any-return]
    queue: asyncio.Queue[eio_packet.Packet | None] = socket.queue
    first = await queue.get()
    queue.task_done()
    packets: list[eio_packet.Packet] = []
    while first is not None:
        packets.append(first)
        if queue.empty():
            return packets
        first = queue.get_nowait()
        queue.task_done()
    if packets:
        queue.put_nowait(None)  # the end, for the next wait once these are sent
    return packets


class LocalFanout(socketio.AsyncManager):  # type: ignore[misc]  # socketio is untyped
    """python-socketio's manager, except that an emit without an ack callback encodes its
    packet once and puts it on each recipient socket's queue in turn, and that each socket's
    writer waits on that queue directly (`_next_packets`). The stock manager starts a task
    per recipient for the same queueing, which at 100 recipients cost as much as everything
    else Shoal does for a message."""

    async def connect(self, sid: str, namespace: str) -> Any:
        """Register a connected client (python-socketio's), its writer waiting directly."""
        sid = await super().connect(sid, namespace)
        socket = self.server.eio.sockets.get(self.eio_sid_from_sid(sid, namespace))
        if socket is not None:
            socket.poll = MethodType(_next_packets, socket)
        return sid

    async def emit(self, event: str, data: Any, namespace: str, room: Any = None,
                   skip_sid: Any = None, callback: Any = None, to: Any = None,
                   **kwargs: Any) -> None:
        """Send an event to a room, a list of rooms or one socket of this process."""
        room = to or room
        if callback is not None or namespace not in self.rooms:
            await super().emit(event, data, namespace, room=room, skip_sid=skip_sid,
                               callback=callback, **kwargs)
            return
        if isinstance(data, tuple):  # a tuple is several arguments, anything else one
            arguments = list(data)
        else:
            arguments = [] if data is None else [data]
        skipped = skip_sid if isinstance(skip_sid, list) else [skip_sid]
        encoded = self.server.packet_class(packet.EVENT, namespace=namespace,
                                           data=[event, *arguments]).encode()
        frames = [eio_packet.Packet(eio_packet.MESSAGE, part)
                  for part in (encoded if isinstance(encoded, list) else [encoded])]
        sockets = self.server.eio.sockets
        for sid, eio_sid in self.get_participants(namespace, room):
            socket = sockets.get(eio_sid)
            # A closed socket is skipped, as engine.io's own send skips it.
            if sid not in skipped and socket is not None and not socket.closed:
                for frame in frames:
                    socket.queue.put_nowait(frame)  # its writer task sends it


class RedisFanout(socketio.AsyncRedisManager, LocalFanout):  # type: ignore[misc]
    """The Redis manager (emits reach every process sharing it), with each process
    delivering to its own sockets as `LocalFanout` does."""
