"""A real HTTP server on loopback that records what Shoal sends it and answers as told."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

Answer = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Received:
    """One request as it arrived."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """The server's address, the requests it got, and the handler answering the next ones."""

    url: str
    answer: Answer
    requests: list[Received] = field(default_factory=list)


async def ok_json(request: web.Request) -> web.StreamResponse:
    """Answer `{"ok": true}`."""
    return web.json_response({"ok": True})


@asynccontextmanager
async def receiver(answer: Answer = ok_json, host: str = "127.0.0.1"
                   ) -> AsyncIterator[Receiver]:
    """Serve on a free port of `host` for the duration of the block."""
    state = Receiver("", answer)

    async def handle(request: web.Request) -> web.StreamResponse:
        state.requests.append(Received(request.method, request.path_qs, dict(request.headers),
                                       await request.read()))
        return await state.answer(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.2)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    try:
        yield state
    finally:
        await runner.cleanup()
