"""How much time the model layer adds to a streamed completion.

Starts the fake provider in a separate process, then streams the same 200-token answer N times
through `ModelRouter.stream` and through a bare `openai` SDK client, interleaved, in one run.
Prints per-call times, the overhead per call and the ratio. Never fails on a time.

Usage: .venv/bin/python bench/llm_overhead.py [--calls 200]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import time

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


async def main(calls: int, warmup: int) -> None:
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
        await client.close()
    finally:
        server.terminate()
        server.wait(10)
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
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.warmup))
