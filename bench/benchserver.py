"""Starting the processes a benchmark measures: `shoal serve` on a fresh SQLite data directory."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx


def free_port() -> int:
    """A TCP port on loopback that nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_until_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Wait until the server answers Engine.IO's handshake (Shoal and the relay both do); a
    machine shared with other work can take many seconds to start it."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}")
            try:
                await http.get(url + "/socket.io/?EIO=4&transport=polling")
                return
            except httpx.HTTPError:
                await asyncio.sleep(0.05)
    raise RuntimeError("server did not start")


@asynccontextmanager
async def running_shoal() -> AsyncIterator[tuple[str, subprocess.Popen[bytes]]]:
    """`shoal serve` with open registration on a throwaway SQLite database; yields its URL and
    process. BENCH_PROFILE (e.g. "py-spy record -o profile.svg --") wraps the command."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as data_dir:
        env = {**os.environ, "SHOAL_DATA_DIR": data_dir, "SHOAL_OPEN_REGISTRATION": "true",
               "SHOAL_SECRET": "bench", "SHOAL_LOG_LEVEL": "warning",
               "SHOAL_AUTH_ATTEMPTS_PER_MINUTE": "1000"}
        env.pop("SHOAL_DATABASE_URL", None)
        command = [sys.executable, "-m", "shoal", "serve", "--port", str(port)]
        if os.environ.get("BENCH_PROFILE"):
            command = os.environ["BENCH_PROFILE"].split() + command
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
        try:
            await wait_until_up(url, proc)
            yield url, proc
        finally:
            proc.terminate()
            proc.wait()
