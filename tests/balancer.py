"""A TCP load balancer on loopback, as an operator puts in front of api processes: each new
connection goes to the next backend in turn (WebSocket upgrades and plain requests take turns
apart, so sockets spread evenly however many requests a client makes), and to the one after
when a backend refuses it (stopped or restarting)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


@asynccontextmanager
async def balancer(ports: list[int]) -> AsyncIterator[str]:
    """Balance connections over these loopback ports; yields the balancer's URL."""
    turns = {upgrade: itertools.cycle(range(len(ports))) for upgrade in (True, False)}
    pipes: set[asyncio.Task[None]] = set()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.read(65536)  # the request line and headers
        first = next(turns[b"transport=websocket" in head])
        for port in ports[first:] + ports[:first]:
            try:
                upstream = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                continue  # this backend is down: the next one
            upstream[1].write(head)
            for direction in ((reader, upstream[1]), (upstream[0], writer)):
                task = asyncio.create_task(_pipe(*direction))
                pipes.add(task)
                task.add_done_callback(pipes.discard)
            return
        writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        for task in list(pipes):
            task.cancel()
        with contextlib.suppress(Exception):
            await server.wait_closed()
