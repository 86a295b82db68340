"""The fallback matrix: which failure moves to the next profile, the next model, or stops."""

from __future__ import annotations

from typing import Any

import pytest

from shoal.llm import (
    AllModelsFailed,
    BadModelRequest,
    ChatMessage,
    ChatRequest,
    ContextOverflow,
    FailureKind,
    ManualClock,
    ModelRouter,
)
from shoal.llm.fakeserver import FakeLLMServer, Fault, Reply

from .conftest import WIRES

REQ = ChatRequest([ChatMessage("user", "hello")])
TWO_KEYS = {"OPENAI_API_KEY": "key-a", "OPENROUTER_API_KEY": "unused"}


def two_profile_router(make_router: Any) -> ModelRouter:
    """An openai provider with two keys: one from env, one from a second env variable."""
    router: ModelRouter = make_router(
        {"OPENAI_API_KEY": "key-a", "OPENAI_KEY_2": "key-b", "ANTHROPIC_API_KEY": "ok-anthropic"}
    )
    spec = router.catalog.providers["openai"]
    router.catalog.providers["openai"] = type(spec)(
        spec.name, spec.kind, spec.base_url, ("OPENAI_API_KEY", "OPENAI_KEY_2")
    )
    return router


@pytest.mark.parametrize("wire", sorted(WIRES))
@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        (Fault.http(401), FailureKind.AUTH),
        (Fault.http(402), FailureKind.BILLING),
        (Fault.http(429, retry_after=7), FailureKind.RATE_LIMIT),
        (Fault.http(500), FailureKind.UNAVAILABLE),
        (Fault.http(503), FailureKind.UNAVAILABLE),
        (Fault.http(529), FailureKind.UNAVAILABLE),
        (Fault.malformed(), FailureKind.UNAVAILABLE),
    ],
)
async def test_each_fault_is_classified_and_not_retried_by_the_sdk(
    wire: str, fault: Fault, kind: FailureKind, fake: FakeLLMServer, make_router: Any
) -> None:
    router = make_router()
    fake.script(fault)
    with pytest.raises(AllModelsFailed) as caught:
        await router.complete(REQ, [WIRES[wire]])
    assert len(fake.requests) == 1  # the SDK's own retries are off
    assert router.book.failures[-1].reason is kind
    assert str(kind) in str(caught.value)


@pytest.mark.parametrize("wire", sorted(WIRES))
async def test_context_length_error_is_context_overflow_without_fallback(
    wire: str, fake: FakeLLMServer, make_router: Any
) -> None:
    fake.script(Fault.context_length())
    with pytest.raises(ContextOverflow) as caught:
        await make_router().complete(REQ, [WIRES[wire], "anthropic/fake-claude"])
    assert caught.value.model == WIRES[wire]
    assert len(fake.requests) == 1


async def test_401_moves_to_the_next_profile(fake: FakeLLMServer, make_router: Any) -> None:
    router = two_profile_router(make_router)
    fake.fail_key("key-a", Fault.http(401))
    answer = await router.complete(REQ, ["openai/fake-gpt"])
    assert answer.profile == "env:OPENAI_KEY_2"
    assert [r.api_key for r in fake.requests] == ["key-a", "key-b"]


async def test_429_cools_the_profile_down_respecting_retry_after_then_it_expires(
    fake: FakeLLMServer, make_router: Any, clock: ManualClock
) -> None:
    router = two_profile_router(make_router)
    fake.script(Fault.http(429, retry_after=300))
    first = await router.complete(REQ, ["openai/fake-gpt"])
    assert first.profile == "env:OPENAI_KEY_2"  # key-a was rate limited, key-b answered
    until = router.book.unavailable_until("env:OPENAI_API_KEY")
    assert until == clock.now() + 300  # Retry-After beats the 60 s first cooldown
    # While key-a cools down it is not called at all; key-b answers again.
    again = await router.complete(REQ, ["openai/fake-gpt"])
    assert again.profile == "env:OPENAI_KEY_2" and fake.requests[-1].api_key == "key-b"
    clock.advance(301)
    assert router.book.unavailable_until("env:OPENAI_API_KEY") is None
    later = await router.complete(REQ, ["openai/fake-gpt"])
    assert later.profile == "env:OPENAI_API_KEY"  # usable again, and least recently used


async def test_rate_limit_on_every_profile_falls_back_to_the_next_model(
    fake: FakeLLMServer, make_router: Any
) -> None:
    router = two_profile_router(make_router)
    fake.script(Fault.http(429), Fault.http(429), model="fake-gpt")
    answer = await router.complete(REQ, ["openai/fake-gpt", "anthropic/fake-claude"])
    assert answer.model == "anthropic/fake-claude"
    assert [r.wire for r in fake.requests] == ["openai", "openai", "anthropic"]


@pytest.mark.parametrize(
    "fault", [Fault.http(500), Fault.http(503), Fault.http(529), Fault.stall()]
)
async def test_server_errors_and_stalls_move_to_the_next_model_not_the_next_key(
    fault: Fault, fake: FakeLLMServer, make_router: Any
) -> None:
    router = two_profile_router(make_router)
    fake.script(fault, model="fake-gpt")
    answer = await router.complete(
        REQ, ["openai/fake-gpt", "anthropic/fake-claude"], deadline_seconds=0.3
    )
    assert answer.model == "anthropic/fake-claude"
    assert [r.api_key for r in fake.requests] == ["key-a", "ok-anthropic"]
    assert router.book.unavailable_until("env:OPENAI_API_KEY") is None  # the key is not blamed


async def test_billing_disables_the_profile_for_hours(
    fake: FakeLLMServer, make_router: Any, clock: ManualClock
) -> None:
    router = two_profile_router(make_router)
    fake.fail_key("key-a", Fault.http(402))
    await router.complete(REQ, ["openai/fake-gpt"])
    assert router.book.unavailable_until("env:OPENAI_API_KEY") == clock.now() + 5 * 3600
    clock.advance(5 * 3600 + 1)
    await router.complete(REQ, ["openai/fake-gpt"])  # key-a is tried again and fails again
    assert router.book.unavailable_until("env:OPENAI_API_KEY") == clock.now() + 10 * 3600


async def test_bad_request_goes_back_without_fallback(
    fake: FakeLLMServer, make_router: Any
) -> None:
    fake.script(Fault.http(400))
    with pytest.raises(BadModelRequest):
        await make_router().complete(REQ, ["openai/fake-gpt", "anthropic/fake-claude"])
    assert len(fake.requests) == 1


async def test_when_everything_fails_one_error_names_each_attempt(
    fake: FakeLLMServer, make_router: Any
) -> None:
    router = two_profile_router(make_router)
    fake.script(Fault.http(401), Fault.http(429), model="fake-gpt")
    fake.script(Fault.http(503), model="fake-claude")
    with pytest.raises(AllModelsFailed) as caught:
        await router.complete(
            REQ,
            ["openai/fake-gpt", "anthropic/fake-claude", "google/fake-gemini"],
        )
    lines = [a.describe() for a in caught.value.attempts]
    assert [(a.model, a.profile) for a in caught.value.attempts][:3] == [
        ("openai/fake-gpt", "env:OPENAI_API_KEY"),
        ("openai/fake-gpt", "env:OPENAI_KEY_2"),
        ("anthropic/fake-claude", "env:ANTHROPIC_API_KEY"),
    ]
    assert "auth" in lines[0] and "rate_limit" in lines[1] and "unavailable" in lines[2]
    assert "no API key" in lines[3]  # the google provider has no key in this router
    assert all(line in str(caught.value) for line in lines)
    assert all(" ms" in line for line in lines)


async def test_failed_key_is_never_in_the_error_or_logs(
    fake: FakeLLMServer, make_router: Any, caplog: pytest.LogCaptureFixture
) -> None:
    router = make_router({"OPENAI_API_KEY": "sk-very-secret-value-1234"})
    fake.script(Fault.http(401))
    with pytest.raises(AllModelsFailed) as caught:
        await router.complete(REQ, ["openai/fake-gpt"])
    assert "sk-very-secret" not in str(caught.value)
    assert "sk-very-secret" not in caplog.text
    assert "auth" in caplog.text  # the failure itself is logged


async def test_small_context_window_is_refused_and_skipped(
    fake: FakeLLMServer, make_router: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from shoal.llm import ModelConfig

    from .conftest import fake_catalog

    router = make_router()
    router.catalog = fake_catalog(
        fake,
        **{
            "openai/tiny": ModelConfig(context_window=8_000),
            "openai/small": ModelConfig(context_window=20_000),
        },
    )
    answer = await router.complete(REQ, ["openai/tiny", "openai/small"])
    assert answer.model == "openai/small"
    assert [r.model for r in fake.requests] == ["small"]
    assert "small context window" in caplog.text
    with pytest.raises(AllModelsFailed, match="below the 16000 minimum"):
        await router.complete(REQ, ["openai/tiny"])


async def test_mid_stream_failure_resets_and_falls_back(
    fake: FakeLLMServer, make_router: Any
) -> None:
    from shoal.llm import StreamReset, TextDelta

    fake.script(Reply("one two three four five", stall_after=3), model="fake-gpt")
    events = [
        e
        async for e in make_router().stream(
            REQ, ["openai/fake-gpt", "anthropic/fake-claude"], deadline_seconds=0.3
        )
    ]
    reset = next(i for i, e in enumerate(events) if isinstance(e, StreamReset))
    assert any(isinstance(e, TextDelta) for e in events[:reset])  # partial text was streamed
    answer_after = "".join(e.text for e in events[reset:] if isinstance(e, TextDelta))
    assert answer_after == Reply().text
