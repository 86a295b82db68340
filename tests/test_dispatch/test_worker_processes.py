"""Real Shoal processes on PostgreSQL: a worker killed mid-run, and rolling restarts of workers
and of api processes where each is stopped as an operator stops it (collected only when
SHOAL_TEST_DATABASE_URL is set: SQLite is one process's database)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from aiohttp import web

from shoal import sdk
from shoal.auth.accounts import create_bot
from shoal.auth.tokens import issue_token
from shoal.rooms.houses import add_house_member
from shoal.rooms.rooms import join_room
from shoal.sdk import Agent, should_respond
from shoal.store.tables import Activation, Message, User
from tests.balancer import balancer
from tests.receiver import receiver
from tests.support import (
    House,
    ShoalServer,
    database_beside,
    make_house,
    make_settings,
    serve,
    unique,
)
from tests.test_dispatch.conftest import activations, make_bot, room_messages

JOBS = 20
LEASE_SECONDS = 4
REDIS_URL = os.environ.get("SHOAL_TEST_REDIS_URL")


async def fresh_database() -> str:
    """A database of its own next to the test database, emptied: the suite's shared server
    runs a worker of its own on the test database, and it must not claim these runs."""
    return await database_beside("workers")


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[ShoalServer]:
    """An HTTP-only Shoal (role api): the runs happen in the worker processes."""
    url = await fresh_database()
    settings = make_settings(tmp_path / "api", "postgres", database_url=url, role="api")
    async for server in serve(settings):
        await server.bootstrap()
        yield server


def start_worker(server: ShoalServer, tmp: Path, name: str, **env_extra: str
                 ) -> tuple[subprocess.Popen[bytes], Path]:
    """`shoal serve --role worker`, as an operator starts one, with a short lease."""
    return start_process(server, tmp, name, "worker", **env_extra)


def start_process(server: ShoalServer, tmp: Path, name: str, role: str, *options: str,
                  **env_extra: str) -> tuple[subprocess.Popen[bytes], Path]:
    """`shoal serve --role <role> [options]` on the server's database, with a short lease."""
    settings = server.shoal.settings
    env = {
        **os.environ,
        "SHOAL_DATABASE_URL": settings.resolved_database_url,
        "SHOAL_SECRET": settings.ensure_secret(),
        "SHOAL_DATA_DIR": str(tmp / name),
        "SHOAL_OUTBOUND_ALLOW_PRIVATE": "true",
        "SHOAL_LOG_LEVEL": "info",
        "SHOAL_WORKER_LEASE_SECONDS": str(LEASE_SECONDS),
        "SHOAL_WORKER_LEASE_RENEW_SECONDS": "1",
        **env_extra,
    }
    env.pop("SHOAL_CONFIG", None)
    if "SHOAL_REDIS_URL" not in env_extra:
        env.pop("SHOAL_REDIS_URL", None)
    log = tmp / f"{name}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "shoal", "serve", "--role", role, *options],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return proc, log


@pytest.fixture
def worker_processes(
    api: ShoalServer, tmp_path: Path
) -> Iterator[list[tuple[subprocess.Popen[bytes], Path]]]:
    started = [start_worker(api, tmp_path, f"worker{i}") for i in (1, 2)]
    yield started
    for proc, _ in started:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=30)


async def wait_until(condition: Any, timeout: float = 120) -> None:  # noqa: ANN401
    async with asyncio.timeout(timeout):
        while not await condition():
            await asyncio.sleep(0.1)


async def test_a_killed_worker_s_queue_is_taken_over_and_each_mention_answered_once(
    api: ShoalServer,
    worker_processes: list[tuple[subprocess.Popen[bytes], Path]],
) -> None:
    house = await make_house(api)
    held, release = asyncio.Event(), asyncio.Event()
    victim_job = f"job {JOBS // 4}"

    async def answer(request: web.Request) -> web.StreamResponse:
        body = json.loads(await request.read())
        job = body["message"]["content"].split(" ", 2)[-1]  # "@a @b job 7" -> "job 7"
        if (
            body["agent"]["username"] == first["username"]
            and job == victim_job
            and not held.is_set()
        ):
            held.set()  # this run is the one whose worker dies
            await release.wait()
        await asyncio.sleep(0.05)
        return web.json_response({"content": f"{body['agent']['username']} did {job}"})

    async with receiver(answer) as hook:
        config = {"runtime": "webhook", "response_webhook_url": hook.url + "/agent"}
        first = await make_bot(api, house, **config)
        second = await make_bot(api, house, **config)
        for i in range(JOBS):  # a burst: both bots mentioned in every message
            r = await house.member.post(
                f"/api/agencies/{house.room_id}/messages",
                {"content": f"@{first['handle']} @{second['handle']} job {i}"},
            )
            assert r.status_code == 201, r.text
        await asyncio.wait_for(held.wait(), 120)
        [victim_row] = [a for a in await activations(api, first["id"]) if a.status == "running"]
        victim_owner = victim_row.lease_owner
        assert victim_owner is not None
        by_pid = {str(proc.pid): (proc, log) for proc, log in worker_processes}
        victim, _ = by_pid.pop(victim_owner.split(":")[1])
        [(survivor, survivor_log)] = by_pid.values()
        os.kill(victim.pid, signal.SIGKILL)
        assert victim.wait(timeout=30) == -signal.SIGKILL
        release.set()

        async def all_done() -> bool:
            rows = [a for b in (first, second) for a in await activations(api, b["id"])]
            return len(rows) == 2 * JOBS and all(a.status == "done" for a in rows)

        await wait_until(all_done)

    for bot in (first, second):
        replies = sorted(
            m["content"] for m in await room_messages(api, house) if m["sender_id"] == bot["id"]
        )
        assert replies == sorted(f"{bot['username']} did job {i}" for i in range(JOBS))
        assert {a.outcome for a in await activations(api, bot["id"])} == {"replied"}
    async with api.shoal.db.read() as session:
        taken = await session.get(Activation, victim_row.id)
    assert taken is not None
    assert taken.payload["lease_expired"]["owner"] == victim_owner
    assert taken.attempts == 2
    assert taken.lease_owner.split(":")[1] == str(survivor.pid)
    # The survivor took the dead worker's place: whatever was left ran there (a bot's
    # activations are taken in (created_at, id) order; one group commit's share a created_at).
    after = (victim_row.created_at, victim_row.id)
    later = [a for a in await activations(api, first["id"]) if (a.created_at, a.id) >= after]
    assert {a.lease_owner.split(":")[1] for a in later} == {str(survivor.pid)}
    assert f"held by {victim_owner} expired" in survivor_log.read_text()


async def test_a_rolling_restart_hands_running_work_over_and_answers_each_mention_once(
    api: ShoalServer, tmp_path: Path
) -> None:
    """Each worker in turn gets SIGTERM while it runs a mention that will not finish within
    the grace: it hands the run back and exits cleanly, and another worker runs it at once,
    without waiting for a lease to expire (the leases here last a minute)."""
    house = await make_house(api)
    drain = {"SHOAL_WORKER_LEASE_SECONDS": "60", "SHOAL_SHUTDOWN_GRACE_SECONDS": "1"}
    workers = [start_worker(api, tmp_path, f"w{i}", **drain) for i in (1, 2)]
    held: dict[str, asyncio.Event] = {}
    jobs: list[str] = []

    async def answer(request: web.Request) -> web.StreamResponse:
        body = json.loads(await request.read())
        job = body["message"]["content"].split(" ", 1)[-1]  # "@bot job 7" -> "job 7"
        if job in held and not held[job].is_set():
            held[job].set()  # the first run of this job outlasts its worker's grace
            await asyncio.Event().wait()
        return web.json_response({"content": f"did {job}"})

    async def post(job: str) -> None:
        jobs.append(job)
        r = await house.member.post(f"/api/agencies/{house.room_id}/messages",
                                    {"content": f"@{bot['handle']} {job}"})
        assert r.status_code == 201, r.text

    async def stop_the_worker_running(job: str) -> tuple[subprocess.Popen[bytes], Path]:
        await asyncio.wait_for(held[job].wait(), 60)
        [row] = [a for a in await activations(api, bot["id"]) if a.status == "running"]
        pid = row.lease_owner.split(":")[1]
        [stopped] = [w for w in workers if str(w[0].pid) == pid]
        workers.remove(stopped)
        stopped[0].send_signal(signal.SIGTERM)
        await post(f"{job} follow-up")  # work keeps arriving during the restart
        assert await asyncio.to_thread(stopped[0].wait, 60) == 0  # drained, not killed
        return stopped

    try:
        async with receiver(answer) as hook:
            bot = await make_bot(api, house, runtime="webhook",
                                 response_webhook_url=hook.url + "/agent")
            stopped = []
            for turn in (1, 2):  # stop one worker, start its replacement; then the other
                held[f"job {turn}"] = asyncio.Event()
                for job in (f"job {turn}", f"job {turn}b"):
                    await post(job)
                stopped.append(await stop_the_worker_running(f"job {turn}"))
                workers.append(start_worker(api, tmp_path, f"w{turn + 2}", **drain))

            async def all_done() -> bool:
                rows = await activations(api, bot["id"])
                return len(rows) == len(jobs) and all(a.status == "done" for a in rows)

            await wait_until(all_done, timeout=60)
    finally:
        for proc, _ in workers:
            proc.terminate()
            proc.wait(timeout=30)

    replies = sorted(m["content"] for m in await room_messages(api, house)
                     if m["sender_id"] == bot["id"])
    assert replies == sorted(f"did {job}" for job in jobs)  # each once, none lost
    rows = await activations(api, bot["id"])
    assert {a.outcome for a in rows} == {"replied"}
    for proc, log in stopped:
        [row] = [a for a in rows
                 if (a.payload.get("handed_back") or {}).get("by", "").split(":")[1:2]
                 == [str(proc.pid)]]
        assert "lease_expired" not in row.payload and row.attempts == 1
        assert row.lease_owner.split(":")[1] != str(proc.pid)  # another worker finished it
        assert f"handed activation {row.id} back" in log.read_text()


async def wait_ready(port: int, proc: subprocess.Popen[bytes]) -> None:
    """Wait until the api process on this port answers `/api/ready` with 200."""
    async with httpx.AsyncClient() as http, asyncio.timeout(120):
        while True:
            assert proc.poll() is None, f"the process exited with {proc.returncode}"
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"http://127.0.0.1:{port}/api/ready")).status_code == 200:
                    return
            await asyncio.sleep(0.1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def stored_messages(server: ShoalServer, house: House) -> list[tuple[str, str]]:
    """Every message of the house's room as stored: (content, sender's username)."""
    async with server.shoal.db.read() as session:
        rows = await session.execute(
            sa.select(Message.content, User.username).join(User, User.id == Message.sender_id)
            .where(Message.room_id == house.room_id))
        return [(content, username) for content, username in rows.all()]


@pytest.mark.skipif(not REDIS_URL, reason="set SHOAL_TEST_REDIS_URL to run")
async def test_a_rolling_restart_of_api_processes_under_load_loses_and_repeats_nothing(
    api: ShoalServer, tmp_path: Path
) -> None:
    """Two api processes behind a load balancer, SDK bots connected through it to both,
    talking all the while; each api process in turn gets SIGTERM and is started again. Its
    sockets are told to reconnect, land on the other process and resume the room: every
    message sent is stored once, every bot hears each once and answers each mention once."""
    house = await make_house(api)
    ports = [free_port(), free_port()]
    cluster = {"SHOAL_REDIS_URL": REDIS_URL or "", "SHOAL_REDIS_PREFIX": unique("shoal-test-"),
               "SHOAL_SHUTDOWN_GRACE_SECONDS": "5"}

    def start_api(i: int, turn: int) -> tuple[subprocess.Popen[bytes], Path]:
        return start_process(api, tmp_path, f"api{i}-{turn}", "api", "--port", str(ports[i]),
                             **cluster)

    apis = [start_api(i, 0) for i in (0, 1)]
    tokens = []
    async with api.shoal.db.write() as session:
        for _ in range(6):  # four bots answer mentions, two post jobs that mention them
            bot = await create_bot(session, unique("Bot "), house.owner.id, verified=True)
            bot.config = {"runtime": "sdk"}
            await add_house_member(session, house.id, bot, "member")
            await join_room(session, house.room_id, bot.id)
            tokens.append((await issue_token(session, bot.id, "bot"))[1])
    heard: dict[str, list[str]] = {}
    sent: list[str] = []
    talking = True

    def listen_and_answer(agent: Agent) -> None:
        heard[agent.username] = []

        async def on_message(message: sdk.Message) -> None:
            if message.sender_username == agent.username:
                return
            heard[agent.username].append(message.content)
            if should_respond(message, agent.username):
                await agent.send(f"{agent.username} did {message.content.split()[-1]}")
        agent.on("message", on_message)

    async def talk(agent: Agent, mentioned: list[Agent]) -> None:
        for i in itertools.count():
            if not talking:
                return
            pair = " ".join(f"@{mentioned[(i + k) % len(mentioned)].username}" for k in (0, 1))
            text = f"{pair} job:{agent.username}:{i}"
            await agent.send(text)  # raises if the message could not be sent
            sent.append(text)
            await asyncio.sleep(0.1)

    async def more_sent(count: int) -> None:
        target = len(sent) + count

        async def reached() -> bool:
            return len(sent) >= target
        await wait_until(reached, timeout=60)

    try:
        for i, (proc, _) in enumerate(apis):
            await wait_ready(ports[i], proc)
        async with balancer(ports) as url:
            agents = [Agent(url, token) for token in tokens]
            for agent in agents:  # the balancer takes turns: half of them on each process
                await agent.connect_and_join(house.room_id)
                listen_and_answer(agent)
            load = [asyncio.create_task(talk(agent, agents[:4])) for agent in agents[4:]]
            for i in (0, 1):  # restart one process, then the other, while the bots talk
                await more_sent(20)
                proc, log = apis[i]
                proc.send_signal(signal.SIGTERM)
                # uvicorn ends by the signal it handled, once it has shut down cleanly
                assert await asyncio.to_thread(proc.wait, 60) == -signal.SIGTERM
                text = log.read_text()
                assert re.search(r"told [1-9]\d* socket\(s\) to reconnect", text)
                assert "Application shutdown complete" in text
                apis[i] = start_api(i, 1)
                await wait_ready(ports[i], apis[i][0])
            await more_sent(20)
            talking = False
            await asyncio.gather(*load)
            replies = [f"{name.removeprefix('@')} did {text.split()[-1]}"
                       for text in sent for name in text.split()[:2]]

            async def all_heard() -> bool:
                stored = await stored_messages(api, house)
                return {r for r, _ in stored} >= set(replies) and all(
                    len(heard[a.username]) == sum(1 for _, who in stored if who != a.username)
                    for a in agents)

            await wait_until(all_heard, timeout=60)
            for agent in agents:
                await agent.close()
    finally:
        for proc, _ in apis:
            proc.terminate()
            proc.wait(timeout=30)

    stored = await stored_messages(api, house)
    assert sorted(text for text, _ in stored if text.startswith("@")) == sorted(sent)  # once
    assert sorted(text for text, _ in stored if " did job:" in text) == sorted(replies)
    for name, texts in heard.items():  # what each bot heard: every other bot's messages, once
        assert sorted(texts) == sorted(text for text, who in stored if who != name)


async def test_a_bot_s_mentions_are_taken_in_order_even_while_another_worker_holds_the_oldest(
    api: ShoalServer, tmp_path: Path
) -> None:
    """A worker's claim skips rows another worker has locked while it looks them over. A
    bot's later mention must not run ahead of its older one held that way: the bot waits,
    and other bots go on."""
    house = await make_house(api)
    async with receiver(answer_did) as hook:
        config = {"runtime": "webhook", "response_webhook_url": hook.url + "/agent"}
        held_bot = await make_bot(api, house, **config)
        other_bot = await make_bot(api, house, **config)
        for text in (f"@{held_bot['handle']} first", f"@{held_bot['handle']} second",
                     f"@{other_bot['handle']} meanwhile"):
            r = await house.member.post(f"/api/agencies/{house.room_id}/messages",
                                        {"content": text})
            assert r.status_code == 201, r.text
        [oldest, _] = sorted(await activations(api, held_bot["id"]), key=lambda a: a.created_at)

        def asked(bot: dict[str, str]) -> list[str]:
            return [json.loads(q.body)["message"]["content"].split()[-1] for q in hook.requests
                    if json.loads(q.body)["agent"]["username"] == bot["username"]]

        worker, _ = start_worker(api, tmp_path, "w")
        try:
            async with api.shoal.db.write() as session:  # as a worker looking it over would
                await session.execute(sa.select(Activation.id).where(Activation.id == oldest.id)
                                      .with_for_update())

                async def other_answered() -> bool:
                    return asked(other_bot) == ["meanwhile"]
                await wait_until(other_answered, timeout=60)  # the worker has claimed since
                assert asked(held_bot) == []

            async def held_answered() -> bool:
                return len(asked(held_bot)) == 2
            await wait_until(held_answered, timeout=60)
            assert asked(held_bot) == ["first", "second"]
        finally:
            worker.terminate()
            worker.wait(timeout=30)


async def answer_did(request: web.Request) -> web.StreamResponse:
    body = json.loads(await request.read())
    return web.json_response({"content": f"did {body['message']['content'].split()[-1]}"})
