"""Room fan-out: one encoded packet handed to every recipient socket in turn."""

from __future__ import annotations

from typing import Any

import socketio
from engineio import packet as eio_packet
from socketio import packet


class LocalFanout(socketio.AsyncManager):  # type: ignore[misc]  # socketio is untyped
    """python-socketio's manager, except that an emit without an ack callback encodes its
    packet once and queues it on each recipient's socket in turn. The stock manager starts
    a task per recipient for the same queueing, which at 100 recipients cost as much as
    everything else Shoal does for a message."""

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
        send = self.server.eio.send_packet
        for sid, eio_sid in self.get_participants(namespace, room):
            if sid not in skipped:
                for frame in frames:
                    # Queues the frame on the socket (its writer task sends it); no wait.
                    await send(eio_sid, frame)


class RedisFanout(socketio.AsyncRedisManager, LocalFanout):  # type: ignore[misc]
    """The Redis manager (emits reach every process sharing it), with each process
    delivering to its own sockets as `LocalFanout` does."""
