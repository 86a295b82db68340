"""Errors of the model layer, and the failure classes that decide what a fallback does."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from shoal.errors import InvalidInput, UpstreamError


class FailureKind(enum.StrEnum):
    """Why a call failed, which decides whether to try another key or another model."""

    AUTH = "auth"  # next profile, then next model
    RATE_LIMIT = "rate_limit"  # cool the profile down, next profile, then next model
    BILLING = "billing"  # disable the profile, next
    TIMEOUT = "timeout"  # next model
    UNAVAILABLE = "unavailable"  # 5xx, 529, connection or malformed output: next model
    BAD_REQUEST = "bad_request"  # no fallback: the same request would fail anywhere
    CONTEXT_OVERFLOW = "context_overflow"  # the caller should compact and retry
    NO_CREDENTIALS = "no_credentials"  # nothing to try for this provider


class UnknownModel(InvalidInput):
    """A model reference that names no known provider, or one a house does not allow."""


class ProviderFailure(UpstreamError):
    """One provider call failed; `kind` classifies it, `retry_after` is in seconds if given."""

    def __init__(
        self,
        kind: FailureKind,
        message: str,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.status_code = status_code
        self.retry_after = retry_after


class BadModelRequest(InvalidInput):
    """The provider refused the request itself (400); another model would refuse it too."""


class ContextOverflow(UpstreamError):
    """The conversation does not fit the model's context window: compact it and retry."""

    def __init__(self, message: str, *, model: str) -> None:
        super().__init__(message)
        self.model = model


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One try of one model with one auth profile, kept for the final error."""

    model: str
    profile: str
    reason: str
    duration_s: float

    def describe(self) -> str:
        """One line for people: model, profile, reason, duration."""
        return (
            f"{self.model} (profile {self.profile}): {self.reason}, {self.duration_s * 1000:.0f} ms"
        )


class AllModelsFailed(UpstreamError):
    """Every model and auth profile in the chain failed; the message names each attempt."""

    def __init__(self, attempts: Sequence[AttemptRecord]) -> None:
        lines = "; ".join(a.describe() for a in attempts) or "no model to try"
        super().__init__(f"every model failed: {lines}")
        self.attempts = tuple(attempts)
