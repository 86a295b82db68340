"""Auth profiles: several keys per provider, tried in order, cooling down when they fail."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from shoal.llm.errors import FailureKind

log = logging.getLogger(__name__)

COOLDOWN_BASE_S = 60.0
COOLDOWN_MAX_S = 3600.0
BILLING_BASE_S = 5 * 3600.0
BILLING_MAX_S = 24 * 3600.0
FAILURE_MEMORY_S = 24 * 3600.0  # consecutive-failure counts reset after this long without one

KeySource = Literal["house", "server", "env", "none", "agent"]


class Clock(Protocol):
    """Where profile bookkeeping reads the time (seconds since the epoch)."""

    def now(self) -> float:
        """The current time."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        """The current time."""
        return time.time()


class ManualClock:
    """A clock that moves only when told to, for tests and simulations."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.t = start

    def now(self) -> float:
        """The current (frozen) time."""
        return self.t

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.t += seconds


@dataclass(frozen=True, slots=True)
class AuthProfile:
    """One credential for one provider. The key never appears in its repr."""

    id: str
    provider: str
    api_key: str | None = field(repr=False)
    source: KeySource = "env"
    label: str = ""
    house_id: str | None = None


@dataclass(slots=True)
class ProfileState:
    """What Shoal remembers about a profile between calls."""

    error_count: int = 0
    billing_count: int = 0
    cooldown_until: float | None = None
    disabled_until: float | None = None
    last_failure_at: float | None = None
    last_used_at: float | None = None

    def unavailable_until(self, now: float) -> float | None:
        """When the profile may be used again, or None if it may be used now."""
        until = max(self.cooldown_until or 0.0, self.disabled_until or 0.0)
        return until if until > now else None


@dataclass(frozen=True, slots=True)
class FailureRecord:
    """One failure of one profile: kept in memory and, with a database, stored."""

    profile_id: str
    provider: str
    model: str
    reason: FailureKind
    detail: str
    at: float


class FailureSink(Protocol):
    """Somewhere failures and the profile state they produce are persisted."""

    async def record(self, failure: FailureRecord, state: ProfileState) -> None:
        """Persist one failure and the profile's state after it."""
        ...

    async def clear(self, profile_id: str) -> None:
        """Persist that a profile succeeded and its failure counts were cleared."""
        ...


def cooldown_seconds(consecutive_failures: int) -> float:
    """min(1 h, 60 s x 5^(n-1)) after the n-th consecutive failure."""
    n = max(1, consecutive_failures)
    growth: int = 5 ** (n - 1)  # typeshed types int ** int as Any: a negative power is a float
    return min(COOLDOWN_MAX_S, COOLDOWN_BASE_S * growth)


def billing_disable_seconds(billing_failures: int) -> float:
    """min(24 h, 5 h x 2^(n-1)) after the n-th billing failure."""
    n = max(1, billing_failures)
    growth: int = 2 ** (n - 1)
    return min(BILLING_MAX_S, BILLING_BASE_S * growth)


class ProfileBook:
    """Usage and failure state of every auth profile, in memory, optionally persisted."""

    def __init__(
        self,
        clock: Clock | None = None,
        sink: FailureSink | None = None,
        states: Mapping[str, ProfileState] | None = None,
        keep_failures: int = 500,
    ) -> None:
        self.clock = clock or SystemClock()
        self.sink = sink
        self.states: dict[str, ProfileState] = dict(states or {})
        self.failures: deque[FailureRecord] = deque(maxlen=keep_failures)

    def state(self, profile_id: str) -> ProfileState:
        """The state of a profile, created empty on first sight."""
        st = self.states.get(profile_id)
        if st is None:
            st = self.states[profile_id] = ProfileState()
        return st

    def unavailable_until(self, profile_id: str) -> float | None:
        """When a cooling or disabled profile becomes usable again; None if usable now."""
        st = self.states.get(profile_id)
        return st.unavailable_until(self.clock.now()) if st else None

    def order(
        self, profiles: Sequence[AuthProfile], pinned: str | None = None
    ) -> list[AuthProfile]:
        """A pinned profile alone; otherwise usable profiles least recently used first, then
        cooling ones, soonest usable first."""
        if pinned is not None:
            return [p for p in profiles if p.id == pinned]
        now = self.clock.now()
        ready: list[tuple[float, int, AuthProfile]] = []
        cooling: list[tuple[float, int, AuthProfile]] = []
        for i, p in enumerate(profiles):
            st = self.states.get(p.id)
            until = st.unavailable_until(now) if st else None
            if until is None:
                last = st.last_used_at if st and st.last_used_at is not None else float("-inf")
                ready.append((last, i, p))
            else:
                cooling.append((until, i, p))
        return [p for *_, p in sorted(ready)] + [p for *_, p in sorted(cooling)]

    def mark_used(self, profile_id: str) -> None:
        """Note that a call is starting with this profile."""
        self.state(profile_id).last_used_at = self.clock.now()

    async def mark_success(self, profile_id: str) -> None:
        """A call succeeded: failure counts and cooldowns are cleared."""
        st = self.state(profile_id)
        if st.error_count or st.billing_count or st.cooldown_until or st.disabled_until:
            st.error_count = st.billing_count = 0
            st.cooldown_until = st.disabled_until = None
            if self.sink is not None:
                await self.sink.clear(profile_id)

    async def mark_failure(
        self,
        profile: AuthProfile,
        kind: FailureKind,
        *,
        model: str,
        detail: str = "",
        retry_after: float | None = None,
    ) -> FailureRecord:
        """Record a failure; auth and rate-limit failures cool the profile down, billing
        failures disable it. Failures of the model itself leave the key alone."""
        now = self.clock.now()
        st = self.state(profile.id)
        if st.last_failure_at is not None and now - st.last_failure_at >= FAILURE_MEMORY_S:
            st.error_count = st.billing_count = 0
        if kind is FailureKind.BILLING:
            st.billing_count += 1
            st.disabled_until = now + billing_disable_seconds(st.billing_count)
        elif kind in (FailureKind.AUTH, FailureKind.RATE_LIMIT):
            st.error_count += 1
            wait = max(cooldown_seconds(st.error_count), retry_after or 0.0)
            st.cooldown_until = now + wait
        st.last_failure_at = now
        record = FailureRecord(profile.id, profile.provider, model, kind, detail, now)
        self.failures.append(record)
        log.warning("model %s with profile %s failed (%s): %s", model, profile.id, kind, detail)
        if self.sink is not None:
            await self.sink.record(record, st)
        return record

    def recent_failures(self, profile_ids: Iterable[str] | None = None) -> list[FailureRecord]:
        """Failures remembered in this process, oldest first, optionally for some profiles."""
        wanted = set(profile_ids) if profile_ids is not None else None
        return [f for f in self.failures if wanted is None or f.profile_id in wanted]
