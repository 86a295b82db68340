"""Real MCP servers for the tests, written with the `mcp` SDK's own server side and served on
loopback by uvicorn on a free port."""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

API_KEY = "sk-mcp-test-very-secret-value"


def demo_server() -> MCPServer:
    """Tools: add, fail (an error the model should read), needs_key (answers whether the
    call carried the API key header), grow (adds `echo` and says the list changed), slow
    (answers after the seconds it is given)."""
    server: MCPServer = MCPServer("demo", log_level="WARNING")

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    @server.tool()
    def fail(reason: str) -> str:
        """Always fails, saying why."""
        raise ToolError(reason)

    @server.tool()
    async def slow(seconds: float) -> str:
        """Answer after a while."""
        await asyncio.sleep(seconds)
        return "finally"

    @server.tool()
    def needs_key(ctx: Context) -> str:
        """Whether the call carried the right X-Api-Key header."""
        return "key accepted" if (ctx.headers or {}).get("x-api-key") == API_KEY else "no key"

    @server.tool()
    async def grow(ctx: Context) -> str:
        """Add a tool named echo, and tell the client the list changed."""

        def echo(text: str) -> str:
            """Say the text back."""
            return text

        server.add_tool(echo, name="echo")
        await ctx.notify_tools_changed()
        return "grown"

    return server


@dataclass
class Served:
    """A running MCP server: its endpoint URL, and a way to stop it."""

    url: str
    uvicorn: uvicorn.Server
    task: asyncio.Task[None]

    async def stop(self) -> None:
        self.uvicorn.should_exit = True
        await self.task


@asynccontextmanager
async def serve_mcp(server: MCPServer, transport: str = "streamable_http"
                    ) -> AsyncIterator[Served]:
    """Serve on a free loopback port for the duration of the block."""
    app = server.sse_app() if transport == "sse" else server.streamable_http_app()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # Open event streams would hold a graceful shutdown until they end: cut them short.
    config = uvicorn.Config(app, log_level="warning", lifespan="on",
                            timeout_graceful_shutdown=1)
    runner = uvicorn.Server(config)
    task = asyncio.create_task(runner.serve(sockets=[sock]))
    while not runner.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    path = "/sse" if transport == "sse" else "/mcp"
    served = Served(f"http://127.0.0.1:{port}{path}", runner, task)
    try:
        yield served
    finally:
        if not task.done():
            await served.stop()
        sock.close()


@contextmanager
def serve_in_thread() -> Iterator[str]:
    """The demo server on a loop of its own thread, for tests of synchronous code (the CLI);
    yields its URL."""
    loop = asyncio.new_event_loop()
    ready: concurrent.futures.Future[str] = concurrent.futures.Future()
    stop = asyncio.Event()

    async def main() -> None:
        async with serve_mcp(demo_server()) as served:
            ready.set_result(served.url)
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    try:
        yield ready.result(timeout=30)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)
        loop.close()
