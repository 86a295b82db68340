"""An unexpected error answers 500 in the one error shape and keeps the connection open."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator

import pytest
import uvicorn
from fastapi import FastAPI

from shoal.api.errors import INTERNAL_ERROR, ErrorBoundary, install_error_handlers
from tests.test_rooms.test_poison import exchange


def failing_app() -> ErrorBoundary:
    api = FastAPI()
    install_error_handlers(api)

    @api.post("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    @api.post("/fine")
    async def fine() -> dict[str, bool]:
        return {"ok": True}

    return ErrorBoundary(api)


@pytest.fixture
async def address() -> AsyncIterator[tuple[str, int]]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(
            failing_app(), log_level="critical", lifespan="off", timeout_graceful_shutdown=5
        )
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    yield sock.getsockname()
    server.should_exit = True
    await task
    sock.close()


async def test_a_500_keeps_the_keep_alive_connection(address: tuple[str, int]) -> None:
    reader, writer = await asyncio.open_connection(*address)
    try:
        for _ in range(3):
            status, body = await exchange(reader, writer, "POST", "/boom", "t", b"{}")
            assert status == 500
            assert json.loads(body) == {"error": INTERNAL_ERROR}
            status, body = await exchange(reader, writer, "POST", "/fine", "t", b"{}")
            assert (status, json.loads(body)) == (200, {"ok": True})
    finally:
        writer.close()
