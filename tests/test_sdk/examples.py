"""Run an example script as a user would, against the test server."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from tests.support import ShoalServer
from tests.test_sdk.bots import SdkBot

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@asynccontextmanager
async def running_example(server: ShoalServer, bot: SdkBot, name: str, *extra: str
                          ) -> AsyncIterator[asyncio.subprocess.Process]:
    """`python examples/<name>.py --url --token --room`, until the bot has joined its room."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(EXAMPLES / f"{name}.py"), "--url", server.url, "--token", bot.token,
        "--room", bot.house.room_id, *extra, stdout=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        # The script prints its line once it has joined and attached its handler.
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert line.startswith(f"@{bot.username} ".encode()), line
        yield proc
    finally:
        proc.terminate()
        await proc.wait()
