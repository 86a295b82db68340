"""Attachment uploads and downloads against a Shoal server, beside plain routes for the same
bytes in the same process.

The server is Shoal's ASGI app served by uvicorn as `shoal serve` serves it (its own process, a
fresh SQLite data directory), with two plain routes mounted in front of it as the baseline:
`PUT /plain/{name}` streams a request body to a file, and `/plain/{name}` serves files with
Starlette's StaticFiles. A task in the server samples the event loop every 5 ms, so the
largest stall while the uploads run is measured where it happens.

N (200) clients upload 1 MiB each at once, through Shoal (`POST
/api/agencies/{id}/attachments`, multipart, checked and stored) and through the plain route;
then download them all at once, through Shoal (`GET /api/attachments/{id}`, access checked)
and through StaticFiles. Prints throughput, p50 and p99 of each, the ratios, and the loop's
largest stall during Shoal's uploads.

    .venv/bin/python bench/attachments.py [--clients 200] [--size 1048576]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from benchserver import free_port, wait_until_up  # noqa: E402

SAMPLE_SECONDS = 0.005


def serve(port: int, data_dir: str) -> None:
    """The server process: Shoal's app behind two plain routes, and a loop-stall sampler."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    from shoal.app import create_app, server_config
    from shoal.bootstrap import ensure_home
    from shoal.config import load_settings

    settings = load_settings(data_dir=Path(data_dir), open_registration=True, secret="bench",
                             log_level="warning", auth_attempts_per_minute=100_000, port=port)
    shoal_app = create_app(settings)
    plain = Path(data_dir) / "plain"
    plain.mkdir()
    stall = {"max": 0.0}

    async def sample() -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(SAMPLE_SECONDS)
            stall["max"] = max(stall["max"], loop.time() - start - SAMPLE_SECONDS)

    async def put_plain(request: Request) -> Response:
        path = plain / Path(request.path_params["name"]).name
        handle = await asyncio.to_thread(path.open, "wb")
        try:
            async for chunk in request.stream():
                await asyncio.to_thread(handle.write, chunk)
        finally:
            await asyncio.to_thread(handle.close)
        return JSONResponse({"ok": True}, status_code=201)

    async def stalls(request: Request) -> Response:
        worst = stall["max"]
        if request.method == "POST":
            stall["max"] = 0.0
        return JSONResponse({"max_stall_ms": worst * 1000})

    app = Starlette(routes=[
        Route("/plain/{name}", put_plain, methods=["PUT"]),
        Mount("/plain", StaticFiles(directory=plain)),
        Route("/bench/stall", stalls, methods=["GET", "POST"]),
        Mount("/", shoal_app),
    ])
    # A mount runs no lifespan: Shoal is started and stopped around the server below.
    config = server_config(settings, app, lifespan="off", access_log=False)
    server = uvicorn.Server(config)

    async def main() -> None:
        shoal = shoal_app.shoal
        await shoal.start()
        await ensure_home(shoal.db)  # as `shoal serve` does: the Home house new people join
        sampler = asyncio.get_running_loop().create_task(sample())
        try:
            await server.serve()
        finally:
            sampler.cancel()
            await shoal.stop()

    asyncio.run(main())


def summary(name: str, seconds: list[float], wall: float, total_bytes: int) -> dict[str, float]:
    ordered = sorted(seconds)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    result = {"mib_s": total_bytes / wall / 1024 / 1024, "p50": statistics.median(ordered) * 1000,
              "p99": p99 * 1000, "wall": wall}
    print(f"  {name:<28} {result['mib_s']:8.1f} MiB/s   p50 {result['p50']:7.1f} ms   "
          f"p99 {result['p99']:7.1f} ms   ({wall:.2f} s for all)")
    return result


async def burst(count: int, call: Callable[[int], Awaitable[None]]) -> tuple[list[float], float]:
    """Run `count` calls at once; each call's latency and the wall time for all."""
    latencies: list[float] = [0.0] * count

    async def timed(i: int) -> None:
        start = time.perf_counter()
        await call(i)
        latencies[i] = time.perf_counter() - start

    start = time.perf_counter()
    await asyncio.gather(*(timed(i) for i in range(count)))
    return latencies, time.perf_counter() - start


async def main(clients: int, size: int) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as data_dir:
        proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port), data_dir],
                                stdout=subprocess.DEVNULL)
        try:
            await wait_until_up(url, proc)
            await measure(url, clients, size)
        finally:
            proc.terminate()
            proc.wait()


async def measure(url: str, clients: int, size: int) -> None:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:
        r = await http.post("/api/auth/register", json={"username": "bench",
                                                        "password": "correct horse"})
        r.raise_for_status()
        http.headers["Authorization"] = f"Bearer {r.json()['token']}"
        r = await http.post("/api/agencies", json={"name": "files"})
        r.raise_for_status()
        room = r.json()["id"]
        payloads = [os.urandom(size) for _ in range(clients)]
        total = clients * size
        ids: list[str] = [""] * clients

        async def shoal_upload(i: int) -> None:
            r = await http.post(f"/api/agencies/{room}/attachments",
                                files={"file": (f"f{i}.bin", payloads[i], "application/zip")})
            assert r.status_code == 201, r.text
            ids[i] = r.json()["id"]

        async def plain_upload(i: int) -> None:
            r = await http.put(f"/plain/f{i}.bin", content=payloads[i])
            assert r.status_code == 201, r.text

        async def shoal_download(i: int) -> None:
            r = await http.get(f"/api/attachments/{ids[i]}")
            assert r.status_code == 200 and len(r.content) == size

        async def plain_download(i: int) -> None:
            r = await http.get(f"/plain/f{i}.bin")
            assert r.status_code == 200 and len(r.content) == size

        # Warm both paths (connections, imports, the first file of each directory).
        await burst(4, plain_upload)
        await burst(4, shoal_upload)
        results: dict[str, Any] = {}
        print(f"{clients} concurrent clients, {size / 1024 / 1024:.1f} MiB each "
              f"({total / 1024 / 1024:.0f} MiB per burst)")
        print("uploads")
        await http.post("/bench/stall")
        results["plain_up"] = summary("plain PUT route", *await burst(clients, plain_upload),
                                      total)
        plain_stall = (await http.post("/bench/stall")).json()["max_stall_ms"]
        results["shoal_up"] = summary("Shoal attachments", *await burst(clients, shoal_upload),
                                      total)
        shoal_stall = (await http.post("/bench/stall")).json()["max_stall_ms"]
        print("downloads")
        results["plain_down"] = summary("plain StaticFiles route",
                                        *await burst(clients, plain_download), total)
        results["shoal_down"] = summary("Shoal attachments",
                                        *await burst(clients, shoal_download), total)
        down_stall = (await http.post("/bench/stall")).json()["max_stall_ms"]
        up = results["shoal_up"]["mib_s"] / results["plain_up"]["mib_s"]
        down = results["shoal_down"]["mib_s"] / results["plain_down"]["mib_s"]
        print(f"Shoal/plain throughput: uploads {up:.2f}x, downloads {down:.2f}x")
        p99_up = results["shoal_up"]["p99"] / results["plain_up"]["p99"]
        p99_down = results["shoal_down"]["p99"] / results["plain_down"]["p99"]
        print(f"p99 Shoal/plain: uploads {p99_up:.2f}x, downloads {p99_down:.2f}x")
        print(f"largest event-loop stall: {shoal_stall:.1f} ms during Shoal's uploads "
              f"({plain_stall:.1f} ms during the plain uploads, {down_stall:.1f} ms during "
              "the downloads)")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]), sys.argv[3])
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--size", type=int, default=1024 * 1024)
    args = parser.parse_args()
    asyncio.run(main(args.clients, args.size))
