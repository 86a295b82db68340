"""A hard deadline over a whole provider call. The SDKs' timeouts only bound the wait for
each read, so a server that trickles bytes forever would never time out without this."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator

from shoal.llm.errors import FailureKind, ProviderFailure
from shoal.llm.types import ProviderEvent


class _Deadline:
    # One timer per call rather than one per event: per-event timers cost more than the
    # whole rest of the layer. The timer cancels the task only while it waits on the provider.
    __slots__ = ("armed", "expired", "fired", "handle", "task")

    def __init__(self, seconds: float) -> None:
        self.task = asyncio.current_task()
        self.armed = False
        self.expired = False
        self.fired = False
        self.handle = asyncio.get_running_loop().call_later(seconds, self._expire)

    def _expire(self) -> None:
        self.expired = True
        if self.armed and self.task is not None:
            self.fired = True
            self.task.cancel()


async def within_deadline(
    events: AsyncIterator[ProviderEvent], seconds: float
) -> AsyncGenerator[ProviderEvent, None]:
    """Yield from a provider stream, failing with a timeout once `seconds` have passed.
    Closing or cancelling this iterator closes the provider stream at once."""
    deadline = _Deadline(seconds)
    try:
        while True:
            if deadline.expired:
                raise _timeout(seconds)
            deadline.armed = True
            try:
                event = await anext(events)
            except StopAsyncIteration:
                return
            except asyncio.CancelledError:
                if deadline.fired and deadline.task is not None and deadline.task.uncancel() == 0:
                    raise _timeout(seconds) from None
                raise
            finally:
                deadline.armed = False
            yield event
    finally:
        deadline.handle.cancel()
        await events.aclose()  # type: ignore[attr-defined]


def _timeout(seconds: float) -> ProviderFailure:
    return ProviderFailure(FailureKind.TIMEOUT, f"no complete answer within {seconds:g} s")
