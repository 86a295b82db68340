"""What every provider adapter implements, and how HTTP failures are classified."""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import httpx

from shoal.llm.errors import FailureKind, ProviderFailure
from shoal.net.outbound import OutboundPolicy, guarded_http_client

if TYPE_CHECKING:
    from shoal.llm.refs import ResolvedModel
    from shoal.llm.types import ChatRequest, ProviderEvent

_CONTEXT_WORDS = re.compile(
    r"context[ _-]length|context window|maximum context|prompt is too long|too many tokens"
    r"|input is too long|exceeds the maximum number of tokens",
    re.I,
)
_BILLING_WORDS = re.compile(r"credit balance|insufficient[ _]credit|billing|payment required", re.I)
_AUTH_WORDS = re.compile(r"invalid[ _-]?(x-)?api[ _-]?key|authentication|unauthori[sz]ed", re.I)
_RATE_WORDS = re.compile(r"rate[ _-]?limit|overloaded|quota|resource[ _]exhausted", re.I)


@dataclass(frozen=True, slots=True)
class Credential:
    """The auth profile a call uses: its id (for records) and the key (None if not needed)."""

    profile_id: str
    api_key: str | None


class ProviderAdapter(Protocol):
    """Turns a normalized request into one provider's API call and its answer into events.
    Failures are raised as ProviderFailure, already classified."""

    def stream(
        self, model: ResolvedModel, request: ChatRequest, credential: Credential, timeout: float
    ) -> AsyncIterator[ProviderEvent]:
        """Call the model and yield its answer as normalized events."""
        ...


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `Retry-After` as seconds or an HTTP date."""
    if not headers:
        return None
    if ms := headers.get("retry-after-ms"):
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def classify_status(
    status: int | None, message: str, headers: Mapping[str, str] | None = None
) -> ProviderFailure:
    """Map an HTTP status and error text to a failure class."""
    kind: FailureKind
    if _CONTEXT_WORDS.search(message):
        kind = FailureKind.CONTEXT_OVERFLOW
    elif status == 402 or _BILLING_WORDS.search(message):
        kind = FailureKind.BILLING
    elif status in (401, 403) or (status is None and _AUTH_WORDS.search(message)):
        kind = FailureKind.AUTH
    elif status == 408:
        kind = FailureKind.TIMEOUT
    elif status is not None and status >= 500:
        kind = FailureKind.UNAVAILABLE  # 529 "overloaded" included: another model may answer
    elif status == 429 or _RATE_WORDS.search(message):
        kind = FailureKind.RATE_LIMIT
    elif status == 404:
        kind = FailureKind.UNAVAILABLE  # a model this provider does not serve
    elif status is not None and 400 <= status < 500:
        kind = FailureKind.BAD_REQUEST
    else:
        kind = FailureKind.UNAVAILABLE
    label = f"HTTP {status}: " if status else ""
    return ProviderFailure(
        kind, f"{label}{message}"[:300], status_code=status, retry_after=parse_retry_after(headers)
    )


def error_message(body: Any, fallback: str) -> str:
    """The human part of a provider's JSON error body, whichever shape it has."""
    if isinstance(body, (bytes, str)):
        try:
            body = json.loads(body)
        except ValueError:
            return fallback
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return str(err["message"])
        if isinstance(body.get("message"), str):
            return str(body["message"])
    return fallback


def parse_arguments(raw: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """Tool arguments as a dict; text that is not a JSON object is a malformed answer."""
    if raw is None or raw == "":
        return {}
    if isinstance(raw, Mapping):
        return dict(raw)
    try:
        value = json.loads(raw)
    except ValueError:
        raise ProviderFailure(
            FailureKind.UNAVAILABLE, f"malformed tool arguments: {raw[:80]!r}"
        ) from None
    if not isinstance(value, dict):
        raise ProviderFailure(FailureKind.UNAVAILABLE, "tool arguments are not a JSON object")
    return value


C = TypeVar("C")


class ClientCache(Generic[C]):
    """One SDK client per (base URL, key, timeout, guard), made on first use and reused, so
    calls share connection pools. `make` builds a client with the SDK's own retries off; with
    a guard it gets an HTTP client whose connections pass the outbound address check."""

    def __init__(self, make: Callable[[str | None, str, float, httpx.AsyncClient | None], C]
                 ) -> None:
        self._make = make
        self._clients: dict[tuple[str | None, str, float, OutboundPolicy | None], C] = {}

    def get(self, base_url: str | None, key: str, timeout: float,
            guard: OutboundPolicy | None = None) -> C:
        """The client for these settings."""
        found = self._clients.get((base_url, key, timeout, guard))
        if found is None:
            http = guarded_http_client(guard, timeout) if guard is not None else None
            found = self._clients[(base_url, key, timeout, guard)] = self._make(
                base_url, key, timeout, http)
        return found

