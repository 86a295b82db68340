"""Cancelling a stream stops it within 100 ms; the hard deadline fires on a stalled server."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from shoal.llm import AllModelsFailed, ChatMessage, ChatRequest, FailureKind, TextDelta
from shoal.llm.fakeserver import FakeLLMServer, Fault, Reply

from .conftest import WIRES

REQ = ChatRequest([ChatMessage("user", "talk for a while")])
SLOW = Reply(" ".join(["word"] * 400), chunk_delay=0.02)  # about 8 s if read to the end


@pytest.mark.parametrize("wire", sorted(WIRES))
async def test_cancelling_mid_stream_stops_within_100_ms(
    wire: str, fake: FakeLLMServer, make_router: Any
) -> None:
    fake.script(SLOW)
    router = make_router()
    first_delta = asyncio.Event()
    received: list[str] = []

    async def consume() -> None:
        async for event in router.stream(REQ, [WIRES[wire]]):
            if isinstance(event, TextDelta):
                received.append(event.text)
                first_delta.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first_delta.wait(), 5)
    cancelled_at = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - cancelled_at < 0.1
    count = len(received)
    # The connection is closed too: the server notices and stops sending.
    for _ in range(100):
        if fake.requests[-1].disconnected_at is not None:
            break
        await asyncio.sleep(0.01)
    assert fake.requests[-1].disconnected_at is not None
    assert fake.requests[-1].disconnected_at - cancelled_at < 1.0
    assert len(received) == count < 400


async def test_closing_the_stream_early_closes_the_connection(
    fake: FakeLLMServer, make_router: Any
) -> None:
    fake.script(SLOW)
    stream = make_router().stream(REQ, ["openai/fake-gpt"])
    async for event in stream:
        if isinstance(event, TextDelta):
            break
    await stream.aclose()  # type: ignore[attr-defined]
    for _ in range(100):
        if fake.requests[-1].disconnected_at is not None:
            break
        await asyncio.sleep(0.01)
    assert fake.requests[-1].disconnected_at is not None


@pytest.mark.parametrize("wire", sorted(WIRES))
async def test_hard_deadline_fires_on_a_stalled_server(
    wire: str, fake: FakeLLMServer, make_router: Any
) -> None:
    fake.script(Fault.stall())
    router = make_router()
    started = time.monotonic()
    with pytest.raises(AllModelsFailed, match="timeout"):
        await router.complete(REQ, [WIRES[wire]], deadline_seconds=0.25)
    elapsed = time.monotonic() - started
    assert 0.25 <= elapsed < 1.5
    assert router.book.failures[-1].reason is FailureKind.TIMEOUT


async def test_deadline_covers_a_stream_that_trickles(
    fake: FakeLLMServer, make_router: Any
) -> None:
    # Each chunk arrives well within any idle timeout, but the whole answer takes too long.
    fake.script(Reply(" ".join(["slow"] * 100), chunk_delay=0.05))
    started = time.monotonic()
    with pytest.raises(AllModelsFailed, match="timeout"):
        await make_router().complete(REQ, ["anthropic/fake-claude"], deadline_seconds=0.4)
    assert time.monotonic() - started < 1.5


async def test_cancel_from_outside_is_not_mistaken_for_the_deadline(
    fake: FakeLLMServer, make_router: Any
) -> None:
    fake.script(Fault.stall())
    task = asyncio.create_task(
        make_router().complete(REQ, ["openai/fake-gpt"], deadline_seconds=30)
    )
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
