"""A minimal Socket.IO v4 client over a raw WebSocket, light enough that a hundred of them in
one process measure the server rather than themselves."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from typing import Any

import websockets


class MiniSocket:
    """Connects with `auth`, emits events (optionally awaiting the ack), and hands every
    received event to `on_event(name, data)`."""

    def __init__(self, url: str, auth: dict[str, Any] | None,
                 on_event: Callable[[str, Any], None]) -> None:
        self.url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        self.auth = auth
        self.on_event = on_event
        self._acks: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self._ws: Any = None
        self._reader: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        self._ws = await websockets.connect(self.url, max_size=None, compression=None)
        opened = await self._ws.recv()
        assert opened.startswith("0"), opened
        await self._ws.send("40" + (json.dumps(self.auth) if self.auth else ""))
        answer = await self._ws.recv()
        if not answer.startswith("40"):
            raise ConnectionError(f"refused: {answer}")
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        ws = self._ws
        async for frame in ws:
            if frame == "2":
                await ws.send("3")
            elif frame.startswith("42"):
                name, data = json.loads(frame[2:])
                self.on_event(name, data)
            elif frame.startswith("43"):
                split = frame.index("[")
                future = self._acks.pop(int(frame[2:split]), None)
                if future is not None and not future.done():
                    future.set_result(json.loads(frame[split:])[0])

    async def emit(self, event: str, data: Any) -> None:
        await self._ws.send("42" + json.dumps([event, data]))

    async def call(self, event: str, data: Any, timeout: float = 10) -> Any:
        ack_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._acks[ack_id] = future
        await self._ws.send(f"42{ack_id}" + json.dumps([event, data]))
        return await asyncio.wait_for(future, timeout)

    async def close(self) -> None:
        if self._reader:
            self._reader.cancel()
        await self._ws.close()
