"""Fan-out benchmark: N Socket.IO clients in one room, M messages posted at a fixed rate.

Prints delivered messages per second, post-to-receive latency p50/p99 and the server's CPU per
1,000 deliveries for Shoal (SQLite, started as `shoal serve`) and for a bare python-socketio
relay on the same stack, measured in the same run, and Shoal's figures as ratios of the
relay's. With `--rounds N` the two alternate N times and the spread of the ratios is printed:
on a machine shared with other work, one round's latency says little.

    python bench/fanout.py [--clients 100] [--messages 2000] [--rate 100] [--rounds 1]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from benchserver import (  # noqa: E402
    free_port,
    running_shoal,  # noqa: E402
    wait_until_up,
)
from sioclient import MiniSocket  # noqa: E402

WARMUP = 20


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    name: str
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    delivered: int = 0
    expected: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return self.delivered / self.seconds if self.seconds else 0.0

    @property
    def cpu_per_1000(self) -> float:
        """Server CPU milliseconds per 1,000 messages delivered."""
        return self.server_cpu / self.delivered * 1e6 if self.delivered else float("nan")

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000

    def line(self) -> str:
        return (f"{self.name:<6} delivered {self.delivered}/{self.expected} in "
                f"{self.seconds:6.2f} s = {self.throughput:9.0f} msg/s   latency p50 "
                f"{self.percentile(0.5):6.1f} ms  p99 {self.percentile(0.99):6.1f} ms   "
                f"cpu server {self.server_cpu:.1f} s ({self.cpu_per_1000:.1f} ms per 1,000 "
                f"deliveries), clients {self.client_cpu:.1f} s")


async def run_load(name: str, pid: int, url: str, room_id: str, reader_auth: dict[str, Any] | None,
                   poster_auth: dict[str, Any] | None, clients: int, messages: int,
                   rate: float) -> Result:
    result = Result(name, expected=clients * messages)
    first_send = last_arrival = 0.0

    def on_event(event: str, data: Any) -> None:
        nonlocal last_arrival
        if event != "message" or data["content"].startswith("warm"):
            return
        now = time.perf_counter()
        result.latencies.append(now - data["metadata"]["sent"])
        result.delivered += 1
        last_arrival = now

    readers = [MiniSocket(url, reader_auth, on_event) for _ in range(clients)]
    for reader in readers:
        await reader.connect()
        ack = await reader.call("join-agency", {"agencyId": room_id})
        assert ack.get("ok"), ack
    poster = MiniSocket(url, poster_auth, lambda *_: None)
    await poster.connect()
    for i in range(WARMUP):
        await poster.call("send-message", {"agencyId": room_id, "content": f"warm {i}",
                                           "metadata": {"sent": 0}})
    await asyncio.sleep(0.5)

    server_cpu, client_cpu = cpu_seconds(pid), time.process_time()
    first_send = time.perf_counter()
    for i in range(messages):
        delay = first_send + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await poster.emit("send-message", {"agencyId": room_id, "content": f"m{i}",
                                           "metadata": {"sent": time.perf_counter()}})
    deadline = time.perf_counter() + 30
    while result.delivered < result.expected and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    result.seconds = last_arrival - first_send
    result.server_cpu = cpu_seconds(pid) - server_cpu
    result.client_cpu = time.process_time() - client_cpu
    for sock in [*readers, poster]:
        await sock.close()
    return result


async def bench_shoal(args: argparse.Namespace) -> Result:
    async with running_shoal() as (url, proc):
        async with httpx.AsyncClient(base_url=url) as http:
            tokens = []
            for who in ("reader", "poster"):
                r = await http.post("/api/auth/register",
                                    json={"username": who, "password": "benchmark!"})
                tokens.append(r.json()["token"])
            rooms = await http.get("/api/agencies",
                                   headers={"Authorization": f"Bearer {tokens[0]}"})
            lobby = next(r["id"] for r in rooms.json() if r["slug"] == "lobby")
        return await run_load("shoal", proc.pid, url, lobby, {"token": tokens[0]},
                              {"token": tokens[1]}, args.clients, args.messages, args.rate)


async def bench_relay(args: argparse.Namespace) -> Result:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, str(Path(__file__).parent / "relay.py"), str(port)])
    try:
        await wait_until_up(url, proc)
        return await run_load("relay", proc.pid, url, "bench", None, None, args.clients,
                              args.messages, args.rate)
    finally:
        proc.terminate()
        proc.wait()


def compare(relay: Result, shoal: Result) -> tuple[float, float, float]:
    """Shoal's throughput, CPU per delivery and p99 as ratios of the relay's, printed."""
    throughput = shoal.throughput / relay.throughput if relay.throughput else float("nan")
    cpu = shoal.cpu_per_1000 / relay.cpu_per_1000
    p99 = shoal.percentile(0.99) / relay.percentile(0.99)
    print(f"shoal/relay: throughput {throughput:.2f} (target >= 0.70), server CPU per delivery "
          f"{cpu:.2f} (target <= 1.25), p99 {p99:.1f}x (target <= 3)")
    added = statistics.median(shoal.latencies) - statistics.median(relay.latencies)
    print(f"median latency added by Shoal: {added * 1000:.1f} ms")
    return throughput, cpu, p99


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=100.0, help="messages per second")
    parser.add_argument("--rounds", type=int, default=1, help="relay and Shoal, alternated")
    parser.add_argument("--only", choices=("shoal", "relay"), help="measure just one side")
    args = parser.parse_args()
    print(f"fan-out: {args.clients} clients, {args.messages} messages at {args.rate:.0f}/s "
          f"({args.clients * args.rate:.0f} deliveries/s offered)")
    if args.only:
        result = await (bench_shoal(args) if args.only == "shoal" else bench_relay(args))
        print(result.line())
        return
    ratios = []
    for _ in range(args.rounds):
        relay = await bench_relay(args)
        print(relay.line())
        shoal = await bench_shoal(args)
        print(shoal.line())
        if relay.latencies and shoal.latencies:
            ratios.append(compare(relay, shoal))
    if len(ratios) > 1:
        for index, name in enumerate(("throughput", "server CPU per delivery", "p99")):
            values = [r[index] for r in ratios]
            print(f"over {len(ratios)} rounds, shoal/relay {name}: {min(values):.2f} to "
                  f"{max(values):.2f} (median {statistics.median(values):.2f})")


if __name__ == "__main__":
    asyncio.run(main())
