"""`shoal keys`, `shoal models` and `shoal fake-llm` as a user runs them."""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shoal.cli import app, common
from shoal.llm.fakeserver import Fault, serve_in_thread

KEY = "sk-cli-PLAINTEXT-abcdefgh-4321"


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SHOAL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SHOAL_SECRET", "cli-test-secret")
    for var in ("SHOAL_DATABASE_URL", "SHOAL_CONFIG", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def invoke(*args: str, stdin: str | None = None) -> Any:
    result = CliRunner().invoke(app, list(args), input=stdin)
    return result


def test_keys_add_list_remove_never_show_the_key(
    cli_env: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    added = invoke("keys", "add", "openai", "--label", "team", stdin=KEY + "\n")
    assert added.exit_code == 0, added.output
    assert KEY not in added.output and "…4321" in added.output
    listed = invoke("keys", "list")
    assert listed.exit_code == 0 and "openai" in listed.output and "…4321" in listed.output
    assert KEY not in listed.output
    key_id = added.output.strip().split()[-1]
    db_files = list((cli_env / "data").glob("shoal.db*"))
    assert db_files and all(KEY.encode() not in f.read_bytes() for f in db_files)
    removed = invoke("keys", "remove", key_id)
    assert removed.exit_code == 0
    assert "no stored keys" in invoke("keys", "list").output
    assert invoke("keys", "remove", key_id).exit_code == 1
    assert KEY not in caplog.text


def test_models_list_shows_aliases_and_key_status(cli_env: Path) -> None:
    result = invoke("models", "list")
    assert result.exit_code == 0, result.output
    for text in (
        "anthropic/claude-sonnet-4-5",
        "sonnet",
        "gemini-flash",
        "offline",
        "no key",
        "not needed",
    ):
        assert text in result.output


def test_models_check_reports_latency_tokens_and_profile(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve_in_thread() as fake:
        config = cli_env / "shoal.toml"
        config.write_text(
            f'[llm.providers.openai]\nkind = "openai"\nbase_url = "{fake.openai_base_url}"\n'
        )
        assert (
            invoke(
                "keys", "add", "openai", "--config", str(config), stdin="sk-bad-key-00000\n"
            ).exit_code
            == 0
        )
        monkeypatch.setenv("OPENAI_API_KEY", "sk-good-key-11111")
        fake.fail_key("sk-bad-key-00000", Fault.http(401))
        result = invoke("models", "check", "gpt", "--config", str(config))
        assert result.exit_code == 0, result.output
        assert "openai/gpt-5 answered in" in result.output and " ms " in result.output
        assert "with profile env:OPENAI_API_KEY" in result.output
        assert "tokens:" in result.output and " out" in result.output
        listing = invoke("models", "list", "--config", str(config))
        assert "cooling down" in listing.output  # the refused stored key is cooling
        fake.fail_key("sk-good-key-11111", Fault.http(503))
        failed = invoke("models", "check", "gpt", "--config", str(config))
        assert failed.exit_code == 1
        assert "every model failed" in failed.output and "sk-good-key" not in failed.output


def test_models_check_offline_and_unknown_refs(cli_env: Path) -> None:
    ok = invoke("models", "check", "offline")
    assert ok.exit_code == 0 and "not a real language model" in ok.output
    bad = invoke("models", "check", "nope/x")
    assert bad.exit_code == 1 and "known providers" in bad.output


def test_fake_llm_command_is_documented() -> None:
    result = invoke("fake-llm", "--help")
    assert result.exit_code == 0 and "--script" in result.output


def test_models_list_says_a_local_provider_is_ready_only_when_it_answers(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(common.console, "width", 200)  # each table row on one line
    config = cli_env / "shoal.toml"

    def ollama_state(base_url: str) -> str:
        config.write_text(f'[llm.providers.ollama]\nbase_url = "{base_url}"\nneeds_key = false\n')
        result = invoke("models", "list", "--config", str(config))
        assert result.exit_code == 0, result.output
        rows = [[cell.strip() for cell in line.split("│")[1:-1]]
                 for line in result.output.splitlines() if "│" in line]
        [state] = [row[3] for row in rows if row[0] == "ollama"]
        return state

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        nobody = f"http://127.0.0.1:{closed.getsockname()[1]}/v1"
        assert ollama_state(nobody) == f"not reachable at {nobody}"
    with serve_in_thread() as fake:
        assert ollama_state(fake.openai_base_url) == "ready"
