"""One exception tree for everything Shoal refuses; each error knows its HTTP status."""

from __future__ import annotations


class ShoalError(Exception):
    """Base of every error Shoal reports to a client; the message is shown as is."""

    status = 500

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class InvalidInput(ShoalError):
    """The request is malformed or breaks a rule the client can fix."""

    status = 400


class Unauthorized(ShoalError):
    """No credentials, or credentials that are wrong, expired or revoked."""

    status = 401


class Forbidden(ShoalError):
    """The caller is known but may not do this."""

    status = 403


class NotFound(ShoalError):
    """The thing does not exist, or the caller may not know that it does."""

    status = 404


class Conflict(ShoalError):
    """The request clashes with existing state (a taken name, say)."""

    status = 409


class LeaseLost(Conflict):
    """A worker whose lease on an activation ran out (another worker now runs it) tried to
    post the activation's reply; it is refused so only the lease holder answers."""


class TooLarge(ShoalError):
    """A body, content or metadata beyond its size cap."""

    status = 413


class RateLimited(ShoalError):
    """Too many requests; `retry_after` says when to try again."""

    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


class UpstreamError(ShoalError):
    """Something Shoal called (a webhook, a model provider) failed."""

    status = 502


class UnsupportedType(ShoalError):
    """A file of a content type the server does not accept."""

    status = 415
