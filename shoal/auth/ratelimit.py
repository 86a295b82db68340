"""A sliding-window limiter for attempts per client address."""

from __future__ import annotations

import math
import time
from collections import defaultdict, deque
from collections.abc import Callable

from shoal.errors import RateLimited


class AttemptLimiter:
    """Allows `limit` attempts per `window` seconds for each key, then refuses with 429."""

    def __init__(
        self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._attempts: dict[str, deque[float]] = defaultdict(deque)

    def hit(self, key: str) -> None:
        """Count one attempt for `key`, or raise RateLimited with the seconds to wait."""
        now = self.clock()
        attempts = self._attempts[key]
        while attempts and attempts[0] <= now - self.window:
            attempts.popleft()
        if len(attempts) >= self.limit:
            retry_after = max(1, math.ceil(attempts[0] + self.window - now))
            raise RateLimited(
                f"too many attempts; try again in {retry_after} seconds", retry_after
            )
        attempts.append(now)
        if len(self._attempts) > 10_000:
            self._forget_idle(now)

    def _forget_idle(self, now: float) -> None:
        for key in [k for k, v in self._attempts.items() if not v or v[-1] <= now - self.window]:
            del self._attempts[key]
