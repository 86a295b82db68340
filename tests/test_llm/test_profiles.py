"""Auth profile order, cooldown and billing arithmetic, resets, and success clearing."""

from __future__ import annotations

from shoal.llm import (
    AuthProfile,
    FailureKind,
    ManualClock,
    ProfileBook,
    billing_disable_seconds,
    cooldown_seconds,
)

A, B, C, D = (AuthProfile(f"p{i}", "openai", f"k{i}") for i in range(4))


def test_cooldown_and_billing_schedules() -> None:
    assert [cooldown_seconds(n) for n in (1, 2, 3, 4, 5)] == [60, 300, 1500, 3600, 3600]
    assert [billing_disable_seconds(n) / 3600 for n in (1, 2, 3, 4)] == [5, 10, 20, 24]


async def test_order_least_recently_used_first_then_cooling_soonest_first() -> None:
    clock = ManualClock()
    book = ProfileBook(clock)
    assert book.order([A, B, C, D]) == [A, B, C, D]  # never used: configured order
    book.mark_used("p0")
    clock.advance(1)
    book.mark_used("p1")
    assert book.order([A, B, C, D]) == [C, D, A, B]
    await book.mark_failure(C, FailureKind.RATE_LIMIT, model="m", retry_after=500)
    await book.mark_failure(D, FailureKind.AUTH, model="m")  # 60 s, expires before C
    assert book.order([A, B, C, D]) == [A, B, D, C]


async def test_pinned_profile_is_used_alone() -> None:
    book = ProfileBook(ManualClock())
    await book.mark_failure(B, FailureKind.AUTH, model="m")
    assert book.order([A, B, C], pinned="p1") == [B]
    assert book.order([A, B, C], pinned="missing") == []


async def test_consecutive_failures_grow_the_cooldown_and_success_clears_it() -> None:
    clock = ManualClock()
    book = ProfileBook(clock)
    for expected in (60, 300, 1500, 3600, 3600):
        await book.mark_failure(A, FailureKind.RATE_LIMIT, model="m")
        assert book.unavailable_until("p0") == clock.now() + expected
    await book.mark_success("p0")
    assert book.unavailable_until("p0") is None
    await book.mark_failure(A, FailureKind.RATE_LIMIT, model="m")
    assert book.unavailable_until("p0") == clock.now() + 60


async def test_counts_reset_after_a_day_without_failure() -> None:
    clock = ManualClock()
    book = ProfileBook(clock)
    await book.mark_failure(A, FailureKind.AUTH, model="m")
    await book.mark_failure(A, FailureKind.AUTH, model="m")
    clock.advance(24 * 3600)
    await book.mark_failure(A, FailureKind.AUTH, model="m")
    assert book.unavailable_until("p0") == clock.now() + 60


async def test_model_failures_are_recorded_but_do_not_cool_the_key() -> None:
    book = ProfileBook(ManualClock())
    record = await book.mark_failure(A, FailureKind.TIMEOUT, model="openai/x", detail="slow")
    assert book.unavailable_until("p0") is None
    assert book.recent_failures(["p0"]) == [record]
    assert (record.profile_id, record.reason, record.model) == (
        "p0",
        FailureKind.TIMEOUT,
        "openai/x",
    )


def test_profile_repr_never_shows_the_key() -> None:
    assert "k1" not in repr(AuthProfile("p", "openai", "k1"))
