"""The SDK's one exception tree: every failure a caller can act on is a `ShoalSDKError`."""

from __future__ import annotations


class ShoalSDKError(Exception):
    """Base of every error the SDK raises."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AuthError(ShoalSDKError):
    """The agent token was refused (unknown, revoked, or the agent is not verified)."""


class NotConnected(ShoalSDKError):
    """The agent is not connected, or has joined no room to act in."""


class RequestError(ShoalSDKError):
    """The server refused a request; `status` is the HTTP status, or None for a socket event."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class CommandError(ShoalSDKError):
    """A slash command answered `{ok: false}`; the message says what was wrong."""

    def __init__(self, message: str, command: str) -> None:
        super().__init__(message)
        self.command = command


class CommandTimeout(ShoalSDKError):
    """A slash command got no answer within its timeout."""

    def __init__(self, command: str, timeout: float) -> None:
        super().__init__(f"Command timeout: {command} got no answer within {timeout:g} s")
        self.command = command
        self.timeout = timeout
