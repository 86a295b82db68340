"""The SDK's public surface is exactly what it means to offer."""

from __future__ import annotations

import shoal.sdk as sdk


def test_public_names_are_pinned() -> None:
    assert sorted(sdk.__all__) == [
        "Agent", "AuthError", "CommandError", "CommandResult", "CommandTimeout", "Interrupt",
        "Message", "NotConnected", "RequestError", "Run", "ShoalSDKError", "Stream",
        "Subagent", "ToolCall", "Trace", "create_loop_guard_metadata", "should_respond",
        "should_respond_with_guard",
    ]
    # Nothing public leaks beside them: internals live in _private modules.
    assert {name for name in vars(sdk) if not name.startswith("_")} == set(sdk.__all__)


def test_errors_form_one_tree() -> None:
    for name in ("AuthError", "CommandError", "CommandTimeout", "NotConnected", "RequestError"):
        assert issubclass(getattr(sdk, name), sdk.ShoalSDKError)
    timeout = sdk.CommandTimeout("/echo hi", 15)
    assert "Command timeout" in str(timeout) and timeout.command == "/echo hi"
