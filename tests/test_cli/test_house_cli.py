"""`shoal house show|set`: the settings document from the terminal, checked as the API checks
it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shoal.cli import app


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SHOAL_DATA_DIR", str(tmp_path))
    for var in ("SHOAL_DATABASE_URL", "SHOAL_REDIS_URL", "SHOAL_CONFIG", "SHOAL_SECRET"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def shoal(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def shown(output: str) -> dict[str, Any]:
    """The JSON document a command printed after its title line."""
    return json.loads(output.split("\n", 1)[1])  # type: ignore[no-any-return]


def test_show_and_set_the_default_houses_settings(data_dir: Path) -> None:
    show = shoal("house", "show")
    assert show.exit_code == 0, show.output
    assert show.output.startswith("Settings of Home (home):")
    assert shown(show.output) == {"models": {}, "relevance_model": None,
                                  "run_permission_deciders": "initiator", "timezone": "UTC",
                                  "interaction_budget": 20, "tools": {},
                                  "memory": {}, "thinking_default": None,
                                  "crew_roles": {}, "crew_models": {}, "bindings": {}}

    assert shown(shoal("house", "set", "timezone", "Europe/Paris").output)["timezone"] == \
        "Europe/Paris"
    assert shoal("house", "set", "interaction_budget", "5").exit_code == 0
    models = shoal("house", "set", "models", '{"haiku": {"alias": "quick"}}', "--house", "home")
    assert models.exit_code == 0, models.output
    relevance = shoal("house", "set", "relevance_model", "quick")
    assert shown(relevance.output)["relevance_model"] == "anthropic/claude-haiku-4-5"
    after = shown(shoal("house", "show", "--house", "home").output)
    assert after["timezone"] == "Europe/Paris" and after["interaction_budget"] == 5
    assert after["models"] == {"anthropic/claude-haiku-4-5": {"alias": "quick"}}

    reset = shoal("house", "set", "timezone", "null")
    assert reset.exit_code == 0 and shown(reset.output)["timezone"] == "UTC"


@pytest.mark.parametrize(("args", "error"), [
    (("timezone", "Mars/Olympus"), "timezone must be an IANA time zone name"),
    (("interaction_budget", "0"), "interaction_budget must be a whole number from 1 to 1000"),
    (("run_permission_deciders", "everyone"), "run_permission_deciders must be one of"),
    (("colour", "blue"), "unknown setting 'colour'; known settings: models,"),
    (("timezone", "UTC", "--house", "nowhere"), "no house 'nowhere'"),
])
def test_a_bad_value_fails_with_the_reason(data_dir: Path, args: tuple[str, ...],
                                           error: str) -> None:
    result = shoal("house", "set", *args)
    assert result.exit_code == 1
    assert error in " ".join(result.output.split())
    assert shown(shoal("house", "show").output)["timezone"] == "UTC"


def test_bind_the_default_room_from_the_terminal(data_dir: Path) -> None:
    assert shoal("bot", "create", "Front Desk").exit_code == 0
    assert shown(shoal("house", "show").output)["bindings"] == {}
    bound = shoal("house", "set", "bindings", '{"lobby": "front-desk"}')
    assert bound.exit_code == 0, bound.output
    assert list(shown(bound.output)["bindings"].values()) == ["front-desk"]
    unbound = shoal("house", "set", "bindings", "null")
    assert unbound.exit_code == 0 and shown(unbound.output)["bindings"] == {}
    bad = shoal("house", "set", "bindings", '{"lobby": "nobody"}')
    assert bad.exit_code == 1 and "no agent in this house is nobody" in bad.output
