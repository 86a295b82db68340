"""Command and run-stream benchmark, over loopback against a real `shoal serve` (SQLite).

1. `execute_command` round trips through the SDK, p50/p99, for `/echo` and `/roll`, beside
   the same commands as bare Socket.IO acks and a bare ack that does no command at all
   (`agent-thinking`), all measured in the same run.
2. Run streaming: one agent pushes deltas at a fixed rate into a run while N clients watch the
   room; prints relayed events per second and delta-to-watcher latency over time.

    python bench/commands.py [--round-trips 1000] [--watchers 20] [--rate 2000] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import socketio

sys.path.insert(0, str(Path(__file__).parent))
from benchserver import running_shoal  # noqa: E402
from sioclient import MiniSocket  # noqa: E402

from shoal.sdk import Agent, ShoalSDKError  # noqa: E402

WARMUP = 50


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000 if ordered else float("nan")


def line(name: str, samples: list[float]) -> str:
    return (f"  {name:<34} n={len(samples):<5} p50 {percentile(samples, 0.5):6.2f} ms   "
            f"p99 {percentile(samples, 0.99):6.2f} ms")


async def timed(n: int, call: Any) -> list[float]:
    for _ in range(WARMUP):
        await call()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return samples


async def setup(url: str) -> tuple[str, str, str]:
    """A person, and a verified SDK bot in the lobby: (person token, agent token, lobby id)."""
    async with httpx.AsyncClient(base_url=url) as http:
        r = await http.post("/api/auth/register", json={"username": "bencher",
                                                        "password": "benchmark!"})
        token = r.json()["token"]
        http.headers["Authorization"] = f"Bearer {token}"
        rooms = (await http.get("/api/agencies")).json()
        lobby = next(r["id"] for r in rooms if r["slug"] == "lobby")
        r = await http.post("/api/agents", json={"name": "Bench Bot", "agencyId": lobby})
        bot, agent_token = r.json()["agent"], r.json()["agentToken"]
        await http.post(f"/api/agents/{bot['id']}/verify")
        await http.patch(f"/api/agents/{bot['id']}/config", json={"runtime": "sdk"})
    return token, agent_token, lobby


async def bench_commands(url: str, agent: Agent, agent_token: str, lobby: str, n: int
                         ) -> None:
    # The bare client logs in as the same bot, so both paths do the same server work.
    async with httpx.AsyncClient(base_url=url) as http:
        r = await http.post("/api/auth/agent", json={"agentToken": agent_token})
        session = r.json()["token"]
    bare = socketio.AsyncClient(reconnection=False)
    await bare.connect(url, auth={"token": session}, transports=["websocket"])
    await bare.call("join-agency", {"agencyId": lobby})

    async def bare_ack() -> None:
        await bare.call("agent-thinking", {"agencyId": lobby, "thinking": False})

    def bare_command(text: str) -> Any:
        async def call() -> None:
            ack = await bare.call("send-message", {"agencyId": lobby, "content": text,
                                                   "silent": True})
            assert ack["ok"], ack
        return call

    def sdk_command(text: str) -> Any:
        async def call() -> None:
            await agent.execute_command(text)
        return call

    print(f"command round trips ({n} each, after {WARMUP} warm-up):")
    baseline = await timed(n, bare_ack)
    print(line("bare ack (agent-thinking)", baseline))
    for text in ("/echo hello", "/roll 2d6"):
        print(line(f"bare ack {text}", await timed(n, bare_command(text))))
        samples = await timed(n, sdk_command(text))
        print(line(f"SDK execute_command {text}", samples)
              + f"   p50 {percentile(samples, 0.5) / percentile(baseline, 0.5):.1f}x bare ack")
    print("  targets for a built-in command: p50 < 3 ms, p99 < 10 ms")
    await bare.disconnect()


class Watcher:
    """A client watching the room; records when each streamed character reached it."""

    def __init__(self, sent: list[float]) -> None:
        self.sent = sent
        self.message_id = ""
        self.seen = 0
        self.events = 0
        self.samples: list[tuple[float, float]] = []  # (pushed at, latency) per character

    def on_event(self, event: str, data: Any) -> None:
        if event != "agent-run-stream" or data.get("messageId") != self.message_id:
            return
        now = time.perf_counter()
        self.events += 1
        # Relayed events are coalesced; each carries the content so far.
        upto = min(len(data.get("content") or ""), len(self.sent))
        self.samples.extend((self.sent[i], now - self.sent[i]) for i in range(self.seen, upto))
        self.seen = max(self.seen, upto)


async def bench_stream(url: str, agent: Agent, reader_token: str, lobby: str,
                       args: argparse.Namespace) -> None:
    sent: list[float] = []  # character i of the stream was pushed at sent[i]
    watchers = [Watcher(sent) for _ in range(args.watchers)]
    sockets = [MiniSocket(url, {"token": reader_token}, w.on_event) for w in watchers]
    for sock in sockets:
        await sock.connect()
        await sock.call("join-agency", {"agencyId": lobby})
    total = int(args.rate * args.seconds)
    print(f"run stream: {args.rate:.0f} deltas/s for {args.seconds:g} s from one agent, "
          f"{args.watchers} watchers:")
    try:
        run = await agent.start_run(name="stream benchmark", room=lobby)
    except ShoalSDKError as exc:
        print(f"  pending: this server does not accept runs yet ({exc})")
        return
    stream = run.create_stream()
    for w in watchers:
        w.message_id = stream.message_id
    started = time.perf_counter()
    for i in range(total):
        delay = started + i / args.rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        sent.append(time.perf_counter())
        await stream.push("x")
    pushed = time.perf_counter() - started
    deadline = time.perf_counter() + 15
    while any(w.seen < total for w in watchers) and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    await stream.finish()
    await run.complete("benchmark done")
    for sock in sockets:
        await sock.close()
    events = sum(w.events for w in watchers)
    reached = sum(w.seen for w in watchers)
    print(f"  pushed {total} deltas in {pushed:.2f} s; {reached}/{total * len(watchers)} "
          f"characters reached the watchers in {events} relayed events "
          f"({events / pushed:.0f} events/s in all, {events / pushed / len(watchers):.0f} "
          f"per watcher)")
    samples = [s for w in watchers for s in w.samples]
    print("  delta-to-watcher latency by second of the stream (includes coalescing):")
    for second in range(int(args.seconds + 0.999)):
        bucket = [lat for at, lat in samples if second <= at - started < second + 1]
        print(line(f"second {second + 1}", bucket))
    print("  target: latency flat over time (no growth) at 2,000 deltas/s")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--round-trips", type=int, default=1000)
    parser.add_argument("--watchers", type=int, default=20)
    parser.add_argument("--rate", type=float, default=2000.0, help="stream deltas per second")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    async with running_shoal() as (url, _):
        person_token, agent_token, lobby = await setup(url)
        async with Agent(url, agent_token) as agent:
            await agent.join(lobby)
            await bench_commands(url, agent, agent_token, lobby, args.round_trips)
            await bench_stream(url, agent, person_token, lobby, args)

if __name__ == "__main__":
    asyncio.run(main())
