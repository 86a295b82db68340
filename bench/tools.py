"""What Shoal's tool path adds to an MCP tool call.

One MCP server (written with the `mcp` SDK's own server side) runs in its own process on
loopback. The same tool is called N times directly with the `mcp` client, and N times through
Shoal's path as a builtin agent's call goes: the registry's toolbox (the layered policy), the
tool card in a run (three run events, written behind the call and broadcast), the call in the
activation's record, and the size cap; calls alternate between the paths, so all see the same
machine. Prints p50 and p99 of each and what Shoal adds per call; then the mean of calls made
back to back with the card writes waited for, so their whole cost shows.

    .venv/bin/python bench/tools.py [--calls 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
from mcp import Client
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).parent))
from benchserver import free_port  # noqa: E402

from shoal.agents.config import BotConfig, ToolPolicy  # noqa: E402
from shoal.auth.accounts import create_bot  # noqa: E402
from shoal.bootstrap import ensure_home  # noqa: E402
from shoal.config import Settings  # noqa: E402
from shoal.core import Shoal  # noqa: E402
from shoal.llm import ToolCall  # noqa: E402
from shoal.rooms.houses import add_house_member  # noqa: E402
from shoal.rooms.rooms import join_room  # noqa: E402
from shoal.runs.tables import RunEvent  # noqa: E402
from shoal.runtime.base import ActivationContext  # noqa: E402
from shoal.runtime.runlog import ActivationRun  # noqa: E402
from shoal.tools.base import ToolScope  # noqa: E402
from shoal.tools.registry import ToolRun  # noqa: E402

WARMUP = 50
SERVER = """
import sys, uvicorn
from mcp.server.mcpserver import MCPServer
server = MCPServer("bench", log_level="WARNING")

@server.tool()
def add(a: int, b: int) -> int:
    \"\"\"Add two numbers.\"\"\"
    return a + b

uvicorn.run(server.streamable_http_app(), host="127.0.0.1", port=int(sys.argv[1]),
            log_level="warning")
"""


class NoCard:
    """A run that shows no tool card: what the registry's own part of the path costs."""

    async def tool(self, call: ToolCall, label: str, gated: bool,
                   execute: Callable[[], Awaitable[str]]) -> str:
        return await execute()


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000


async def wait_for(url: str) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(200):
            try:
                await http.get(url)
                return
            except httpx.HTTPError:
                await asyncio.sleep(0.05)
    raise RuntimeError("the MCP server did not start")


async def shoal_path(url: str, data_dir: str) -> tuple[Shoal, Any, ActivationRun]:
    """A Shoal on SQLite with the server declared by the operator, a bot in the lobby, its
    toolbox, and a run for its tool cards."""
    settings = Settings(data_dir=Path(data_dir), secret="bench-" + "x" * 40,
                        mcp={"servers": {"bench": {"url": url}}})
    shoal = Shoal(settings)
    await shoal.start()
    home = await ensure_home(shoal.db, owner_username="bencher")
    assert home.lobby is not None
    async with shoal.db.write() as session:
        bot = await create_bot(session, "Tool Bench", None, verified=True)
        await add_house_member(session, home.house.id, bot, "member")
        await join_room(session, home.lobby.id, bot.id)
    scope = ToolScope(bot, home.house.id, home.lobby.id)
    layers = shoal.tools.layers("offline/shoal-offline", home.house.settings or {}, ToolPolicy())
    toolbox = await shoal.tools.toolbox(scope, layers)
    assert "bench__add" in {t.name for t in toolbox.offered}, toolbox.explain()
    # An activation's context as the worker builds it; the run opens at the first call.
    ctx = ActivationContext(shoal.chat, shoal.gateway, SimpleNamespace(id=None),  # type: ignore[arg-type]
                            bot, BotConfig(), home.lobby, home.house, trigger=None)
    return shoal, toolbox, ActivationRun(shoal.runs, ctx)


async def main(calls: int) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)])
    try:
        await wait_for(f"http://127.0.0.1:{port}/")
        with tempfile.TemporaryDirectory() as data_dir:
            shoal, toolbox, run = await shoal_path(url, data_dir)
            try:
                async with Client(url) as client:
                    n = [0]

                    async def direct() -> None:
                        result = await client.call_tool("add", {"a": 2, "b": 3})
                        assert not result.is_error

                    async def through(where: ToolRun) -> None:
                        n[0] += 1
                        text = await toolbox.call(
                            ToolCall(f"c{n[0]}", "bench__add", {"a": 2, "b": 3}), where)
                        assert "5" in text and not text.startswith("error"), text

                    paths = {"direct": direct, "policy": lambda: through(NoCard()),
                             "shoal": lambda: through(run)}
                    for _ in range(WARMUP):
                        for call in paths.values():
                            await call()
                    times: dict[str, list[float]] = {name: [] for name in paths}
                    for _ in range(calls):
                        for name, call in paths.items():
                            started = time.perf_counter()
                            await call()
                            times[name].append(time.perf_counter() - started)
                    await run.flush()
                    report(calls, times, len(toolbox.calls))
                    # The cards are written behind the calls, so part of their cost lands
                    # during later calls; back to back, with the writes waited for at the end,
                    # the mean per call shows the whole cost.
                    sustained = {}
                    for name in ("direct", "shoal"):
                        started = time.perf_counter()
                        for _ in range(calls):
                            await paths[name]()
                        await run.flush()
                        sustained[name] = (time.perf_counter() - started) / calls * 1000
                    stored = await card_events(shoal, run)
                    print(f"  back to back, {calls} calls, card writes waited for at the end: "
                          f"mean {sustained['direct']:.3f} ms direct, {sustained['shoal']:.3f} ms"
                          f" through Shoal (adds {sustained['shoal'] - sustained['direct']:.3f}"
                          f" ms per call; {stored} card events stored)")
            finally:
                await shoal.stop()
    finally:
        server.terminate()
        server.wait()


async def card_events(shoal: Shoal, run: ActivationRun) -> int:
    async with shoal.db.read() as session:
        return int(await session.scalar(
            select(func.count()).select_from(RunEvent).where(RunEvent.run_id == run.run_id))
            or 0)


def report(calls: int, times: dict[str, list[float]], recorded: int) -> None:
    d50, d99 = percentile(times["direct"], 0.5), percentile(times["direct"], 0.99)
    print(f"MCP tool `add` on loopback, {calls} calls each, interleaved "
          f"({recorded} calls in the activation record)")
    print(f"  {'direct, mcp client':<44} p50 {d50:7.3f} ms   p99 {d99:7.3f} ms")
    for name, what in (("policy", "Shoal: policy, record, cap (no card)"),
                       ("shoal", "Shoal: the whole path, tool card included")):
        p50, p99 = percentile(times[name], 0.5), percentile(times[name], 0.99)
        print(f"  {what:<44} p50 {p50:7.3f} ms   p99 {p99:7.3f} ms   adds {p50 - d50:6.3f} ms"
              f" at p50 (x{p50 / d50:.2f})")
    print("  target: Shoal adds under 1 ms at p50")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    asyncio.run(main(parser.parse_args().calls))
