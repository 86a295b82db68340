"""Cancelling a stream stops it; the hard deadline fires on a stalled server. (How fast a
cancel takes effect is measured by bench/llm_overhead.py, not asserted here.)"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from shoal.llm import AllModelsFailed, ChatMessage, ChatRequest, FailureKind, TextDelta
from shoal.llm.fakeserver import FakeLLMServer, Fault, Reply

from .conftest import WIRES

REQ = ChatRequest([ChatMessage("user", "talk for a while")])
SLOW = Reply(" ".join(["word"] * 400), chunk_delay=0.02)  # about 8 s if read to the end


async def wait_for_disconnect(fake: FakeLLMServer) -> None:
    """Until the fake provider sees the client hang up (a generous bound, not a measure)."""
    async with asyncio.timeout(10):
        while fake.requests[-1].disconnected_at is None:
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("wire", sorted(WIRES))
async def test_cancelling_mid_stream_stops_the_stream_and_closes_the_connection(
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
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    count = len(received)
    # The connection is closed too: the server notices and stops sending, and no delta
    # arrives after the cancel returned, however long the answer would have gone on.
    await wait_for_disconnect(fake)
    await asyncio.sleep(SLOW.chunk_delay * 5)
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
    await wait_for_disconnect(fake)


@pytest.mark.parametrize("wire", sorted(WIRES))
async def test_hard_deadline_fires_on_a_stalled_server(
    wire: str, fake: FakeLLMServer, make_router: Any
) -> None:
    fake.script(Fault.stall())
    router = make_router()
    with pytest.raises(AllModelsFailed, match="timeout"):
        await router.complete(REQ, [WIRES[wire]], deadline_seconds=0.25)
    assert router.book.failures[-1].reason is FailureKind.TIMEOUT


async def test_deadline_covers_a_stream_that_trickles(
    fake: FakeLLMServer, make_router: Any
) -> None:
    # Each chunk arrives well within any idle timeout, but the whole answer (5 s) takes too
    # long: the call fails on the deadline instead of returning the answer.
    fake.script(Reply(" ".join(["slow"] * 100), chunk_delay=0.05))
    with pytest.raises(AllModelsFailed, match="timeout"):
        await make_router().complete(REQ, ["anthropic/fake-claude"], deadline_seconds=0.4)


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
