"""How much time the model layer adds to a streamed completion, and how fast a cancel stops one.

Starts the fake provider in a separate process, then streams the same 200-token answer N times
through `ModelRouter.stream` and through a bare `openai` SDK client, interleaved, in one run.
Prints per-call times, the overhead per call and the ratio. Then cancels M slow streams after
their first delta, through each path alike, and prints the cancel latency (from `cancel()` to the
consumer's task having ended) at p50 and p99, the bare SDK being the baseline. Never fails on a
time.

Usage: .venv/bin/python bench/llm_overhead.py [--calls 200] [--cancels 200]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import openai

from shoal.llm import (
    Catalog,
    ChatMessage,
    ChatRequest,
    KeyRing,
    LLMConfig,
    ModelRouter,
    ProviderConfig,
    TextDelta,
)

TOKENS = 200
ANSWER = " ".join(f"word{i}" for i in range(TOKENS))
PROMPT = "Say two hundred words."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_until_up(url: str) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(200):
            try:
                await http.get(f"{url}/_fake/requests")
                return
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    raise RuntimeError("fake provider did not start")


async def through_layer(router: ModelRouter, request: ChatRequest) -> int:
    count = 0
    async for event in router.stream(request, ["openai/bench"]):
        if isinstance(event, TextDelta):
            count += 1
    return count


async def through_sdk(client: openai.AsyncOpenAI) -> int:
    count = 0
    stream = await client.chat.completions.create(
        model="bench",
        messages=[{"role": "user", "content": PROMPT}],
        max_completion_tokens=1024,
        stream=True,
        stream_options={"include_usage": True},
    )
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            count += 1
    return count


async def cancel_latency(stream: AsyncIterator[Any], is_delta: Callable[[Any], bool]) -> float:
    """Seconds from cancelling a consumer mid-stream (after its first delta) to its end."""
    first = asyncio.Event()

    async def consume() -> None:
        async for event in stream:
            if is_delta(event):
                first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 10)
    started = time.perf_counter()
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    return time.perf_counter() - started


def layer_delta(event: Any) -> bool:  # noqa: ANN401
    return isinstance(event, TextDelta)


def sdk_delta(chunk: Any) -> bool:  # noqa: ANN401
    return bool(chunk.choices and chunk.choices[0].delta.content)


async def bench_cancel(
    url: str,
    router: ModelRouter,
    client: openai.AsyncOpenAI,
    request: ChatRequest,
    rounds: int,
    warmup: int,
) -> None:
    async with httpx.AsyncClient() as http:
        slow = {"text": ANSWER, "chunk_delay": 0.01}  # about 2 s if read to the end
        await http.post(f"{url}/_fake/script", json=[slow] * (2 * (rounds + warmup)))
    layer: list[float] = []
    bare: list[float] = []
    for i in range(rounds + warmup):

        async def via_sdk() -> float:
            stream = await client.chat.completions.create(
                model="bench", messages=[{"role": "user", "content": PROMPT}], stream=True
            )
            return await cancel_latency(stream, sdk_delta)

        jobs = [
            (
                "layer",
                lambda: cancel_latency(router.stream(request, ["openai/bench"]), layer_delta),
            ),
            ("sdk", via_sdk),
        ]
        for name, job in jobs if i % 2 == 0 else reversed(jobs):
            latency = await job()
            if i >= warmup:
                (layer if name == "layer" else bare).append(latency)
    ms = 1000.0
    print(f"cancel mid-stream, {rounds} streams each (from cancel() to the task's end):")
    for name, samples in (("bare openai SDK", bare), ("through shoal.llm", layer)):
        print(
            f"{name:<17} p50 {percentile(samples, 0.5) * ms:7.3f} ms   "
            f"p99 {percentile(samples, 0.99) * ms:7.3f} ms"
        )
    print("target: under 100 ms at p99")


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main(calls: int, warmup: int, cancels: int) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from shoal.cli import main; main()",
            "fake-llm",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        await wait_until_up(url)
        async with httpx.AsyncClient() as http:
            await http.post(f"{url}/_fake/script", json=[{"text": ANSWER}] * (2 * (calls + warmup)))
        catalog = Catalog(
            LLMConfig(providers={"openai": ProviderConfig(kind="openai", base_url=f"{url}/v1")}),
            env={},
        )
        router = ModelRouter(catalog, KeyRing(env={"OPENAI_API_KEY": "bench"}))
        client = openai.AsyncOpenAI(api_key="bench", base_url=f"{url}/v1", max_retries=0)
        request = ChatRequest([ChatMessage("user", PROMPT)])
        layer: list[float] = []
        bare: list[float] = []
        for i in range(calls + warmup):
            # Alternate which goes first so drift in the machine's load hits both alike.
            order = [("layer", through_layer(router, request)), ("sdk", through_sdk(client))]
            for name, job in order if i % 2 == 0 else reversed(order):
                started = time.perf_counter()
                deltas = await job
                elapsed = time.perf_counter() - started
                assert deltas == TOKENS, f"{name} got {deltas} deltas"
                if i >= warmup:
                    (layer if name == "layer" else bare).append(elapsed)
        report_overhead(url, layer, bare)
        await bench_cancel(url, router, client, request, cancels, warmup)
        await client.close()
    finally:
        server.terminate()
        server.wait(10)


def report_overhead(url: str, layer: list[float], bare: list[float]) -> None:
    calls = len(layer)
    ms = 1000.0
    med_layer, med_bare = statistics.median(layer) * ms, statistics.median(bare) * ms
    mean_layer, mean_bare = statistics.fmean(layer) * ms, statistics.fmean(bare) * ms
    med_added, mean_added = med_layer - med_bare, mean_layer - mean_bare
    print(f"{calls} calls, {TOKENS}-token streamed answer, fake provider on {url}")
    print(f"bare openai SDK   median {med_bare:7.3f} ms   mean {mean_bare:7.3f} ms")
    print(f"through shoal.llm median {med_layer:7.3f} ms   mean {mean_layer:7.3f} ms")
    print(f"overhead per call median {med_added:+7.3f} ms   mean {mean_added:+7.3f} ms")
    ratio_med, ratio_mean = med_layer / med_bare, mean_layer / mean_bare
    print(f"ratio layer/bare  median {ratio_med:7.3f}     mean {ratio_mean:7.3f}")
    print("target: under 0.5 ms added per call")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--cancels", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.warmup, args.cancels))
