"""Web app benchmark, in Debian's Chromium (headless) against a real `shoal serve` (SQLite).

1. Time to first message: from navigation start to the first message on screen, opening a room
   with 5,000 messages, beside a room with a single message (the baseline: the app's own start).
2. Memory while reading back: the page's JS heap (after a forced garbage collection) and its
   DOM size when the room opens, then after scrolling 2,000 messages back; the timeline keeps a
   window of rendered messages, so the ratio should stay near 1.

    python bench/web_load.py [--messages 5000] [--back 2000] [--loads 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Page, async_playwright

sys.path.insert(0, str(Path(__file__).parent))
from benchserver import running_shoal  # noqa: E402

CHROMIUM = os.environ.get("SHOAL_CHROMIUM", "/usr/bin/chromium")
# Set before any of the app's code runs: when the first message and the newest one appear,
# in ms since navigation started.
FIRST_RENDER = """
window.__firstMessage = null; window.__newest = null;
const newestSeq = sessionStorage.getItem('bench.newest');
new MutationObserver(() => {
  const first = document.querySelector('.timeline .msg');
  if (first && window.__firstMessage === null) window.__firstMessage = performance.now();
  if (window.__newest === null && newestSeq
      && document.querySelector(`.timeline .msg[data-seq="${newestSeq}"]`)) {
    window.__newest = performance.now();
  }
}).observe(document, {childList: true, subtree: true});
"""


async def post_messages(http: httpx.AsyncClient, room_id: str, count: int) -> None:
    """Post `count` messages, 32 at a time (the server commits concurrent posts together)."""
    sem = asyncio.Semaphore(32)

    async def post(i: int) -> None:
        async with sem:
            r = await http.post(f"/api/agencies/{room_id}/messages",
                                json={"content": f"message {i}: " + "lorem ipsum " * (i % 7)})
            r.raise_for_status()

    await asyncio.gather(*(post(i) for i in range(1, count + 1)))


async def setup(url: str, messages: int) -> tuple[str, str, str]:
    """A person with a room of `messages` messages and a room of one: (token, big, small)."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        r = await http.post("/api/auth/register", json={"username": "webbench",
                                                        "password": "benchmark!"})
        r.raise_for_status()
        http.headers["Authorization"] = f"Bearer {r.json()['token']}"
        big = (await http.post("/api/agencies", json={"name": "history"})).json()["id"]
        small = (await http.post("/api/agencies", json={"name": "quiet"})).json()["id"]
        await post_messages(http, big, messages)
        await post_messages(http, small, 1)
        return str(http.headers["Authorization"].split()[1]), big, small


async def first_render(page: Page, url: str, room_id: str, newest: int) -> tuple[float, float]:
    """Open the room afresh: ms to the first message, and to the newest one (seq `newest`)."""
    await page.evaluate("seq => sessionStorage.setItem('bench.newest', String(seq))", newest)
    await page.goto(f"{url}/rooms/{room_id}")
    await page.wait_for_function("() => window.__firstMessage !== null && window.__newest !== null",
                                 timeout=30_000)
    return (float(await page.evaluate("window.__firstMessage")),
            float(await page.evaluate("window.__newest")))


async def memory(page: Page, cdp: Any) -> dict[str, float]:
    """JS heap after a forced collection, DOM nodes, and messages rendered."""
    await cdp.send("HeapProfiler.collectGarbage")
    heap = await cdp.send("Runtime.getHeapUsage")
    counts = await page.evaluate("""() => ({
        nodes: document.getElementsByTagName('*').length,
        messages: document.querySelectorAll('.timeline .msg').length,
        oldest: Number(document.querySelector('.timeline .msg')?.dataset.seq || 0)})""")
    return {"heap_mb": heap["usedSize"] / 2**20, **counts}


async def scroll_back(page: Page, back_to_seq: int) -> int:
    """Scroll up page by page until the window reaches `back_to_seq`; returns steps taken."""
    steps = 0
    while True:
        oldest = await page.evaluate(
            "() => Number(document.querySelector('.timeline .msg').dataset.seq)")
        if oldest <= back_to_seq:
            return steps
        await page.evaluate("() => { document.querySelector('.timeline').scrollTop = 0; }")
        await page.wait_for_function(
            "(seq) => Number(document.querySelector('.timeline .msg').dataset.seq) < seq",
            arg=oldest, timeout=30_000)
        steps += 1


async def main(args: argparse.Namespace) -> None:
    async with running_shoal() as (url, _proc), async_playwright() as p:
        print(f"posting {args.messages} messages...", flush=True)
        token, big, small = await setup(url, args.messages)
        launch = ["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=launch)
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        await context.add_init_script(f"localStorage.setItem('shoal.token', {token!r});")
        await context.add_init_script(FIRST_RENDER)
        page = await context.new_page()
        await page.goto(f"{url}/login")  # the app's origin, for sessionStorage
        await first_render(page, url, small, 1)  # warm the browser's caches
        results: dict[str, list[tuple[float, float]]] = {"small": [], "big": []}
        for _ in range(args.loads):
            results["small"].append(await first_render(page, url, small, 1))
            results["big"].append(await first_render(page, url, big, args.messages))

        def report(name: str, runs: list[tuple[float, float]]) -> float:
            first = statistics.median(r[0] for r in runs)
            newest = statistics.median(r[1] for r in runs)
            print(f"  {name:<34} first message {first:7.1f} ms   newest shown {newest:7.1f} ms")
            return first

        print(f"time to first message rendered (median of {args.loads} loads, from navigation)")
        base = report("room with 1 message (baseline)", results["small"])
        big_first = report(f"room with {args.messages:,} messages", results["big"])
        print(f"  ratio {big_first / base:.2f}   target: under 500 ms")

        cdp = await context.new_cdp_session(page)
        await first_render(page, url, big, args.messages)
        start = await memory(page, cdp)
        steps = await scroll_back(page, args.messages - args.back)
        back = await memory(page, cdp)
        print(f"memory after scrolling {args.back:,} messages back ({steps} pages loaded)")
        for name, m in (("on opening", start), (f"{args.back:,} back", back)):
            print(f"  {name:<34} heap {m['heap_mb']:6.2f} MB   DOM nodes {m['nodes']:6.0f}   "
                  f"messages rendered {m['messages']:4.0f} (oldest seq {m['oldest']:.0f})")
        print(f"  heap ratio {back['heap_mb'] / start['heap_mb']:.2f}   "
              f"DOM ratio {back['nodes'] / start['nodes']:.2f}")
        await browser.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--back", type=int, default=2000)
    parser.add_argument("--loads", type=int, default=5)
    asyncio.run(main(parser.parse_args()))
