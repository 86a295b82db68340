"""Cluster benchmark: real `shoal serve` processes with roles on PostgreSQL and Redis.

1. Fan-out. 100 people's sockets (one each) in one 100-member room, one more person posting
   at a fixed rate; first through one process (`--role all`, no Redis) on the database, the
   baseline; then with the sockets spread over two api processes (`--role api`, Redis) beside
   a worker and a scheduler, the poster on the first. Prints delivered messages per second,
   post-to-receive latency (in the cluster split by whether the reader's process is the
   poster's) and each process's CPU.
2. Activations. Builtin bots on a fake provider whose every answer takes a fixed time (in
   this process, on loopback), so the work a worker can hold at once matters, not the CPU:
   a burst of mentions with one worker, then with two (the scaling ratio), then with two of
   which one is killed (SIGKILL) mid-run and started again. Prints sustained activations per
   minute and counts, from the room, replies lost and duplicated.
3. A rolling restart under load. SDK bots connected through a loopback load balancer to both
   api processes talk in a room (some messages mention builtin bots) while every process of
   the cluster in turn (two api processes, two workers, the scheduler) gets SIGTERM and is
   started again. Prints messages lost and duplicated, what each bot heard missing or twice,
   mentions answered, and how long anything stalled: the longest `send`, the longest gap
   between two messages a bot heard, and the longest time from a mention to its reply.

BENCH_PROFILE_DIR=/tmp/prof BENCH_PROFILE_ROLES=worker,api writes a cProfile of each process
of those roles there when it stops; BENCH_LOG_LEVEL=info makes the processes' logs (kept with
--logs DIR) say more.

    python bench/cluster.py [--database-url postgresql://...] [--redis-url redis://...]
        [--clients 100] [--messages 1000] [--rate 100] [--bots 40] [--activations 160]
        [--model-seconds 3] [--sdk-bots 10] [--only fanout|activations|restart] [--logs DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(1, str(Path(__file__).parents[1]))  # the tests' load balancer
from benchserver import free_port  # noqa: E402
from sioclient import MiniSocket  # noqa: E402

from shoal import sdk  # noqa: E402
from shoal.auth.accounts import create_bot, create_person  # noqa: E402
from shoal.auth.tokens import issue_token  # noqa: E402
from shoal.config import normalize_database_url  # noqa: E402
from shoal.llm.fakeserver import FakeLLMServer, Reply  # noqa: E402
from shoal.rooms.houses import add_house_member, create_house  # noqa: E402
from shoal.rooms.rooms import create_room, join_room  # noqa: E402
from shoal.store import Database, migrate  # noqa: E402
from shoal.store.tables import Activation, Message  # noqa: E402
from tests.balancer import balancer  # noqa: E402

WARMUP = 20
TALK_BUILTINS = 4  # builtin bots in the room where the SDK bots talk
MODEL = "openai/fake-small"
SECRET = "bench-cluster-" + "x" * 32


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


@dataclass
class Process:
    """One `shoal serve` process: its role, its URL (api) or readiness port (others)."""

    name: str
    role: str
    proc: subprocess.Popen[bytes]
    url: str
    log: Path
    last_cpu: float = 0.0

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu(self) -> float:
        """CPU used so far; for a process that has exited, what it had used when last asked."""
        if self.proc.poll() is None:
            self.last_cpu = cpu_seconds(self.pid)
        return self.last_cpu

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=60)


class Cluster:
    """Starts Shoal's processes on one database, each in its role, and stops them all."""

    def __init__(self, database_url: str, redis_url: str, work: Path, fake_url: str) -> None:
        self.database_url = database_url
        self.redis_url = redis_url
        self.work = work
        self.config = work / "shoal.toml"
        self.config.write_text(f'[llm.providers.openai]\nkind = "openai"\n'
                               f'base_url = "{fake_url}"\n')
        self.running: list[Process] = []

    async def start(self, name: str, role: str, *, redis: bool = True,
                    port: int | None = None) -> Process:
        port = port or free_port()
        env = {**os.environ, "SHOAL_DATABASE_URL": self.database_url, "SHOAL_SECRET": SECRET,
               "SHOAL_DATA_DIR": str(self.work / name),
               "SHOAL_LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "warning"),
               "SHOAL_CONFIG": str(self.config), "OPENAI_API_KEY": "sk-bench",
               "SHOAL_OUTBOUND_ALLOW_PRIVATE": "true",
               # Pub/sub channels are shared by every Redis database: keep to our own.
               "SHOAL_REDIS_PREFIX": f"bench-cluster-{os.getpid()}"}
        env.pop("SHOAL_REDIS_URL", None)
        if redis:
            env["SHOAL_REDIS_URL"] = self.redis_url
        command = [sys.executable, "-m", "shoal", "serve", "--role", role]
        profiles = os.environ.get("BENCH_PROFILE_DIR")  # cProfile these roles' processes
        if profiles and role in os.environ.get("BENCH_PROFILE_ROLES", "").split(","):
            command[1:1] = ["-m", "cProfile", "-o", f"{profiles}/{name}.prof"]
        if role in ("all", "api"):
            command += ["--port", str(port)]
        else:  # workers and schedulers answer /ready on their metrics port
            env["SHOAL_METRICS_PORT"] = str(port)
        log = self.work / f"{name}.log"
        (self.work / name).mkdir(exist_ok=True)
        with log.open("ab") as out:
            proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        process = Process(name, role, proc, f"http://127.0.0.1:{port}", log)
        try:
            await wait_ready(process.url + ("/api/ready" if role in ("all", "api")
                                            else "/ready"), proc)
        except BaseException:
            process.stop(signal.SIGKILL)
            raise
        self.running.append(process)
        return process

    async def stop(self, process: Process) -> int:
        """SIGTERM: the process drains and exits; returns its exit status. The wait is off
        the event loop, which serves the clients and the fake model meanwhile."""
        self.running.remove(process)
        return await asyncio.to_thread(process.stop)

    def stop_all(self) -> None:
        # SIGINT drains as SIGTERM does, and lets a profiled api process write its profile.
        for process in self.running:
            process.stop(signal.SIGINT)
        self.running.clear()


async def wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(1200):
            if proc.poll() is not None:
                raise RuntimeError(f"{url}: process exited with {proc.returncode}")
            try:
                if (await http.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} did not become ready")


@dataclass
class World:
    """What the benchmark made in the database: people's session tokens, the rooms, the
    bots' handles."""

    reader_tokens: list[str]
    poster_token: str
    fanout_room: str
    work_room: str
    handles: list[str]
    talk_room: str
    sdk_tokens: list[str]


async def build_world(url: str, clients: int, bots: int, sdk_bots: int) -> World:
    """An empty schema, then a house with a 100-member room, a room of builtin bots and a
    room where SDK bots talk with a few of the builtin ones."""
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
        await conn.execute(sa.text("CREATE SCHEMA public"))
    await engine.dispose()
    db = Database(url)
    await migrate(db)
    async with db.write() as session:
        poster = await create_person(session, "poster", "not-used", "Poster")
        house = await create_house(session, "Bench", poster)
        fanout = await create_room(session, house.id, "fanout", poster.id)
        work = await create_room(session, house.id, "work", poster.id)
        talk = await create_room(session, house.id, "talk", poster.id)
        _, poster_token = await issue_token(session, poster.id, "session")
        reader_tokens = []
        for i in range(clients):
            reader = await create_person(session, f"reader{i:03d}", "not-used", f"Reader {i}")
            await add_house_member(session, house.id, reader, "member")
            await join_room(session, fanout.id, reader.id)
            reader_tokens.append((await issue_token(session, reader.id, "session"))[1])
        handles = []
        for i in range(bots):
            bot = await create_bot(session, f"Worker bot {i:02d}", poster.id, verified=True)
            bot.config = {"runtime": "builtin", "model": {"primary": MODEL, "fallbacks": []},
                          "description": "a benchmark bot"}
            member = await add_house_member(session, house.id, bot, "member")
            await join_room(session, work.id, bot.id)
            handles.append(member.handle)
            if i < TALK_BUILTINS:
                await join_room(session, talk.id, bot.id)
        sdk_tokens = []
        for i in range(sdk_bots):
            bot = await create_bot(session, f"Talker {i:02d}", poster.id, verified=True)
            bot.config = {"runtime": "sdk"}
            await add_house_member(session, house.id, bot, "member")
            await join_room(session, talk.id, bot.id)
            sdk_tokens.append((await issue_token(session, bot.id, "bot"))[1])
    await db.dispose()
    return World(reader_tokens, poster_token, fanout.id, work.id, handles, talk.id, sdk_tokens)


@dataclass
class Fanout:
    """What one fan-out run measured."""

    name: str
    expected: int
    delivered: int = 0
    seconds: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    client_cpu: float = 0.0
    load: float = 0.0

    def line(self) -> str:
        every = [x for values in self.latencies.values() for x in values]
        text = (f"{self.name:<8} delivered {self.delivered}/{self.expected} in "
                f"{self.seconds:5.1f} s = {self.delivered / self.seconds:7.0f} msg/s   "
                f"latency p50 {percentile(every, 0.5) * 1000:6.1f} ms  "
                f"p99 {percentile(every, 0.99) * 1000:6.1f} ms")
        if len(self.latencies) > 1:
            for where, values in self.latencies.items():
                text += (f"\n{'':<8}   readers on {where}: p50 {percentile(values, 0.5) * 1000:.1f}"
                         f" ms, p99 {percentile(values, 0.99) * 1000:.1f} ms ({len(values)})")
        cpu = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.cpu.items())
        per_1000 = sum(self.cpu.values()) / max(self.delivered, 1) * 1000
        return text + (f"\n{'':<8}   server CPU: {cpu} ({per_1000 * 1000:.0f} ms per 1,000 "
                       f"deliveries); clients {self.client_cpu:.1f} s; load average "
                       f"{self.load:.1f}")


async def measure_fanout(name: str, world: World, readers_at: list[Process],
                         poster_at: Process, watched: list[Process], messages: int,
                         rate: float) -> Fanout:
    """Readers connect round-robin to `readers_at`; the poster posts through `poster_at`."""
    clients = len(world.reader_tokens)
    result = Fanout(name, expected=clients * messages)
    last_arrival = 0.0

    def reader(where: str) -> Any:
        latencies = result.latencies.setdefault(where, [])

        def on_event(event: str, data: Any) -> None:
            nonlocal last_arrival
            if event != "message" or data["content"].startswith("warm"):
                return
            now = time.perf_counter()
            latencies.append(now - data["metadata"]["sent"])
            result.delivered += 1
            last_arrival = now
        return on_event

    sockets = []
    for i, token in enumerate(world.reader_tokens):
        at = readers_at[i % len(readers_at)]
        where = ("the poster's process" if at is poster_at else "the other process"
                 ) if len(readers_at) > 1 else at.name
        sock = MiniSocket(at.url, {"token": token}, reader(where))
        await sock.connect()
        ack = await sock.call("join-agency", {"agencyId": world.fanout_room})
        assert ack.get("ok"), ack
        sockets.append(sock)
    poster = MiniSocket(poster_at.url, {"token": world.poster_token}, lambda *_: None)
    await poster.connect()
    for i in range(WARMUP):
        await poster.call("send-message", {"agencyId": world.fanout_room,
                                           "content": f"warm {i}", "metadata": {"sent": 0}})
    await asyncio.sleep(1)
    cpu = {p.name: p.cpu() for p in watched}
    client_cpu = time.process_time()
    first_send = time.perf_counter()
    for i in range(messages):
        delay = first_send + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await poster.emit("send-message", {"agencyId": world.fanout_room, "content": f"m{i}",
                                           "metadata": {"sent": time.perf_counter()}})
    deadline = time.perf_counter() + 30
    while result.delivered < result.expected and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    result.seconds = last_arrival - first_send
    result.cpu = {p.name: p.cpu() - cpu[p.name] for p in watched}
    result.client_cpu = time.process_time() - client_cpu
    result.load = os.getloadavg()[0]
    for sock in [*sockets, poster]:
        await sock.close()
    return result


@dataclass
class Activations:
    """What one burst of mentions measured."""

    name: str
    activations: int
    seconds: float
    lost: int
    duplicated: int
    durations: list[float]
    cpu: dict[str, float]
    outcomes: Counter[str]
    note: str = ""

    @property
    def per_minute(self) -> float:
        return self.activations / self.seconds * 60

    def line(self) -> str:
        cpu = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.cpu.items())
        return (f"{self.name:<24} {self.activations} activations in {self.seconds:5.1f} s = "
                f"{self.per_minute:6.0f}/min   lost {self.lost}, duplicated {self.duplicated}"
                f"   activation p50 {statistics.median(self.durations):.0f} ms"
                f"{self.note}\n{'':<24} outcomes {dict(self.outcomes)}; CPU: {cpu}; "
                f"load average {os.getloadavg()[0]:.1f}")


async def mention_burst(name: str, db: Database, world: World, api: Process,
                        watched: list[Process], count: int, *, mentioned: int = 4,
                        kill: Any = None) -> Activations:
    """Post `count / mentioned` messages at once, each mentioning `mentioned` bots, and wait
    until every activation is done; `kill(done)` is called while waiting."""
    async with db.read() as session:
        seq_before = await session.scalar(
            sa.select(sa.func.coalesce(sa.func.max(Message.seq), 0))
            .where(Message.room_id == world.work_room))
    posts = count // mentioned
    expected: Counter[tuple[str, str]] = Counter()
    cpu = {p.name: p.cpu() for p in watched}
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=api.url, timeout=30, headers={
            "Authorization": f"Bearer {world.poster_token}"}) as http:
        for i in range(posts):
            named = [world.handles[(i * mentioned + k) % len(world.handles)]
                     for k in range(mentioned)]
            r = await http.post(f"/api/agencies/{world.work_room}/messages", json={
                "content": " ".join(f"@{h}" for h in named) + f" {name} job {i}"})
            assert r.status_code == 201, r.text
            for handle in named:
                expected[(handle, r.json()["id"])] += 1
    finished = 0
    while True:
        async with db.read() as session:
            rows = (await session.execute(
                sa.select(Activation.status, sa.func.count()).join(
                    Message, Message.id == Activation.trigger_message_id)
                .where(Message.room_id == world.work_room, Message.seq > seq_before)
                .group_by(Activation.status))).all()
        by_status = dict(rows)  # type: ignore[arg-type]
        finished = by_status.get("done", 0)
        if kill is not None:
            await kill(finished)
        if finished >= count and sum(by_status.values()) == finished:
            break
        await asyncio.sleep(0.1)
    seconds = time.perf_counter() - started
    cpu = {p.name: p.cpu() - cpu[p.name] for p in watched}
    lost, duplicated, durations, outcomes = await count_replies(db, world.work_room, expected)
    return Activations(name, count, seconds, lost, duplicated, durations, cpu, outcomes)


async def count_replies(db: Database, room: str, expected: Counter[tuple[str, str]]
                        ) -> tuple[int, int, list[float], Counter[str]]:
    """Replies seen in the room, each bot's to each message that mentioned it: how many are
    missing, how many more than one."""
    async with db.read() as session:
        rows = (await session.execute(
            sa.select(Activation.bot_id, Activation.trigger_message_id, Activation.outcome,
                      Activation.duration_ms, Message.id)
            .join(Message, Message.activation_id == Activation.id, isouter=True)
            .where(Activation.room_id == room,
                   Activation.trigger_message_id.in_({m for _, m in expected})))).all()
        handles = dict((await session.execute(sa.text(
            "SELECT user_id, handle FROM house_members"))).all())  # type: ignore[arg-type]
    replies: Counter[tuple[str, str]] = Counter()
    outcomes: Counter[str] = Counter()
    durations = []
    for bot_id, trigger, outcome, duration, reply_id in rows:
        outcomes[outcome] += 1
        if reply_id is not None:
            replies[(handles[bot_id], trigger)] += 1
        if duration is not None:
            durations.append(float(duration))
    lost = sum(max(0, n - replies[key]) for key, n in expected.items())
    duplicated = sum(max(0, n - expected[key]) for key, n in replies.items())
    return lost, duplicated, durations, outcomes


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get(
        "SHOAL_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/shoal_bench"),
        help="an empty PostgreSQL database: its schema is dropped and created again")
    parser.add_argument("--redis-url", default=os.environ.get(
        "SHOAL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15"))
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0, help="messages per second")
    parser.add_argument("--bots", type=int, default=40)
    parser.add_argument("--activations", type=int, default=160, help="per burst")
    parser.add_argument("--model-seconds", type=float, default=3.0,
                        help="how long every answer of the fake model takes")
    parser.add_argument("--sdk-bots", type=int, default=10,
                        help="SDK bots in the rolling restart, half of them talking")
    parser.add_argument("--only", choices=("fanout", "activations", "restart"))
    parser.add_argument("--logs", type=Path, help="keep the processes' logs in this directory")
    args = parser.parse_args()
    url = normalize_database_url(args.database_url)
    print(f"cluster: PostgreSQL {make_url(url).database}, Redis {args.redis_url}; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    world = await build_world(url, args.clients, args.bots, args.sdk_bots)
    fake = FakeLLMServer()
    fake.default_reply = Reply("Done.", chunk_delay=args.model_seconds / 4)
    async with fake:
        with tempfile.TemporaryDirectory() as work:
            if args.logs:
                args.logs.mkdir(parents=True, exist_ok=True)
            cluster = Cluster(url, args.redis_url, args.logs or Path(work),
                              fake.openai_base_url)
            try:
                if args.only in (None, "fanout"):
                    await bench_fanout(cluster, world, args)
                if args.only in (None, "activations"):
                    await bench_activations(cluster, world, url, args)
                if args.only in (None, "restart"):
                    await bench_rolling_restart(cluster, world, url)
            finally:
                cluster.stop_all()


async def bench_fanout(cluster: Cluster, world: World, args: argparse.Namespace) -> None:
    print(f"\nfan-out: {args.clients} readers in a {args.clients}-member room, "
          f"{args.messages} messages at {args.rate:.0f}/s "
          f"({args.clients * args.rate:.0f} deliveries/s offered)")
    single = await cluster.start("single", "all", redis=False)
    one = await measure_fanout("single", world, [single], single, [single], args.messages,
                               args.rate)
    cluster.stop_all()
    print(one.line())
    api1 = await cluster.start("api1", "api")
    api2 = await cluster.start("api2", "api")
    worker = await cluster.start("worker", "worker")
    scheduler = await cluster.start("scheduler", "scheduler")
    two = await measure_fanout("cluster", world, [api1, api2], api1,
                               [api1, api2, worker, scheduler], args.messages, args.rate)
    cluster.stop_all()
    print(two.line())
    every = [x for values in two.latencies.values() for x in values]
    print(f"cluster / single throughput {two.delivered / two.seconds / (one.delivered / one.seconds):.2f}; "  # noqa: E501
          f"cluster p99 {percentile(every, 0.99) * 1000:.1f} ms (target < 100 ms)")


async def bench_activations(cluster: Cluster, world: World, url: str,
                            args: argparse.Namespace) -> None:
    print(f"\nactivations: {args.bots} builtin bots, every model answer takes "
          f"{args.model_seconds:g} s; bursts of {args.activations} (4 bots mentioned a message)")
    db = Database(url)
    api1 = await cluster.start("api1", "api")
    api2 = await cluster.start("api2", "api")
    scheduler = await cluster.start("scheduler", "scheduler")
    w1 = await cluster.start("worker1", "worker")
    serving = [api1, api2, scheduler]
    one = await mention_burst("one worker", db, world, api1, [*serving, w1], args.activations)
    print(one.line())
    w2 = await cluster.start("worker2", "worker")
    two = await mention_burst("two workers", db, world, api2, [*serving, w1, w2],
                              args.activations)
    print(two.line())
    print(f"two workers / one worker: {two.per_minute / one.per_minute:.2f}x (target >= 1.6)")

    killed: list[Process] = []

    async def kill_one(done: int) -> None:
        if not killed and done >= args.activations // 3:
            w1.cpu()  # what it used up to its death
            w1.stop(signal.SIGKILL)
            killed.append(await cluster.start("worker1-again", "worker"))

    crash = await mention_burst("two, one killed", db, world, api1, [*serving, w1, w2],
                                args.activations, kill=kill_one)
    crash.note = f"   (worker1 killed after {args.activations // 3} done and started again)"
    print(crash.line())
    await db.dispose()


async def bench_rolling_restart(cluster: Cluster, world: World, url: str) -> None:
    """SDK bots talk through a load balancer while each process in turn is restarted."""
    talkers = len(world.sdk_tokens) // 2
    print(f"\nrolling restart: {len(world.sdk_tokens)} SDK bots through a load balancer to "
          f"two api processes, {talkers} of them each sending a message every 0.1 s (one in "
          f"ten mentions a builtin bot); each process in turn gets SIGTERM and starts again")
    api_ports = {"api1": free_port(), "api2": free_port()}  # the balancer's backends
    processes = {name: await cluster.start(name, "api", port=port)
                 for name, port in api_ports.items()}
    processes |= {"worker1": await cluster.start("worker1", "worker"),
                 "worker2": await cluster.start("worker2", "worker"),
                 "scheduler": await cluster.start("scheduler", "scheduler")}
    heard: dict[str, list[str]] = {}
    last_heard: dict[str, float] = {}
    longest_gap, gap_where = 0.0, ""  # while the bots talk: seconds, and who and when
    sends: list[float] = []
    sent: list[str] = []
    mentions: Counter[tuple[str, str]] = Counter()
    failed: list[str] = []
    phase = "the start"
    talking = True

    def listen(agent: sdk.Agent) -> None:
        name = agent.username
        heard[name] = []

        def on_message(message: sdk.Message) -> None:
            nonlocal longest_gap, gap_where
            if message.sender_username == name:
                return
            now = time.perf_counter()
            heard[name].append(message.id)
            if talking and name in last_heard and now - last_heard[name] > longest_gap:
                longest_gap, gap_where = now - last_heard[name], f"{name} during {phase}"
            last_heard[name] = now
        agent.on("message", on_message)

    async def talk(agent: sdk.Agent, number: int) -> None:
        for i in itertools.count():
            if not talking:
                return
            # One mention a second in all, each builtin bot in turn: within what they answer.
            handle = world.handles[i // 10 % TALK_BUILTINS] if number == 0 and i % 10 == 0 else ""
            text = (f"@{handle} " if handle else "") + f"job {agent.username} {i}"
            started = time.perf_counter()
            try:
                message = await agent.send(text)
            except sdk.ShoalSDKError as error:  # not sent, or not known to be: said, not counted
                failed.append(f"{agent.username} during {phase}: {error}")
                continue
            sends.append(time.perf_counter() - started)
            sent.append(text)
            if handle:
                mentions[(handle, message.id)] += 1
            await asyncio.sleep(0.1)

    restarts = []
    async with balancer(list(api_ports.values())) as balanced:
        agents = [sdk.Agent(balanced, token) for token in world.sdk_tokens]
        for agent in agents:  # the balancer takes turns: half of them on each process
            await agent.connect_and_join(world.talk_room)
            listen(agent)
        load = [asyncio.create_task(talk(agent, n)) for n, agent in enumerate(agents[:talkers])]
        await asyncio.sleep(5)
        for name, old in list(processes.items()):
            phase = f"{name}'s restart"
            started = time.perf_counter()
            status = await cluster.stop(old)
            stopped = time.perf_counter() - started
            processes[name] = await cluster.start(f"{name}-again", old.role,
                                                  port=api_ports.get(name))
            restarts.append(f"{name} drained in {stopped:.1f} s (exit {status}), ready again "
                            f"{time.perf_counter() - started:.1f} s after SIGTERM")
            phase = f"the 5 s after {name}'s restart"
            await asyncio.sleep(5)
        talking = False
        await asyncio.gather(*load)
        db = Database(url)
        deadline = time.perf_counter() + 60
        while time.perf_counter() < deadline:
            stored = await talk_room(db, world)
            lost, _, _, _ = await count_replies(db, world.talk_room, mentions)
            if not lost and all(len(heard[a.username]) >= sum(
                    1 for _, _, who in stored if who != a.user.get("id")) for a in agents):
                break
            await asyncio.sleep(0.5)
        for agent in agents:
            await agent.close()
    contents = Counter(content for _, content, _ in stored)
    lost_messages = sum(1 for text in sent if contents[text] == 0)
    repeated = sum(contents[text] - 1 for text in sent if contents[text] > 1)
    missed = twice = 0
    for agent in agents:
        expected = Counter(id_ for id_, _, who in stored if who != agent.user.get("id"))
        got = Counter(heard[agent.username])
        missed += sum((expected - got).values())
        twice += sum((got - expected).values())
    lost, duplicated, _, outcomes = await count_replies(db, world.talk_room, mentions)
    stalls = await mention_to_reply(db, world)
    await db.dispose()
    for line in restarts:
        print(f"  {line}")
    for line in failed:
        print(f"  a send failed: {line}")
    print(f"messages: {len(sent)} sent, {lost_messages} lost, {repeated} stored twice; "
          f"heard by every bot: {missed} missed, {twice} twice")
    print(f"mentions: {sum(mentions.values())}, replies lost {lost}, duplicated {duplicated}, "
          f"outcomes {dict(outcomes)}")
    print(f"longest stall: a send {max(sends) * 1000:.0f} ms (p50 "
          f"{percentile(sends, 0.5) * 1000:.0f} ms); a bot between two messages "
          f"{longest_gap * 1000:.0f} ms ({gap_where}); a mention to its reply "
          f"{max(stalls):.1f} s (p50 {percentile(stalls, 0.5):.1f} s)")


async def talk_room(db: Database, world: World) -> list[tuple[str, str, str | None]]:
    """The talk room's messages as stored: (id, content, sender's id)."""
    async with db.read() as session:
        rows = await session.execute(sa.select(Message.id, Message.content, Message.sender_id)
                                     .where(Message.room_id == world.talk_room))
        return [(id_, content, sender) for id_, content, sender in rows.all()]


async def mention_to_reply(db: Database, world: World) -> list[float]:
    """Seconds from each mention to its reply, as stored."""
    trigger = sa.orm.aliased(Message)
    async with db.read() as session:
        rows = await session.execute(
            sa.select(trigger.created_at, Message.created_at)
            .join(Activation, Activation.trigger_message_id == trigger.id)
            .join(Message, Message.activation_id == Activation.id)
            .where(Activation.room_id == world.talk_room))
        return [(reply - sent).total_seconds() for sent, reply in rows.all()]


if __name__ == "__main__":
    asyncio.run(main())
