"""Log lines never carry credentials, even when a client puts one in a URL."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from shoal.logs import configure_logging
from tests.support import make_settings, serve

TOKEN = "shs_" + "q" * 43


async def test_the_access_log_redacts_credentials_in_query_strings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(tmp_path, "sqlite")
    async for server in serve(settings, access_log=True, log_level="info"):
        http = server.http()
        for query in (
            f"token={TOKEN}&limit=5",
            "api_key=k3y-value",
            "access_token=abc.def",
            "password=hunter2",
            "agentToken=shb-value&auth=basic-value",
        ):
            assert (await http.get(f"/api/health?{query}")).status_code == 200
    lines = [line for line in capsys.readouterr().out.splitlines() if "/api/health" in line]
    assert len(lines) == 5, lines
    written = "\n".join(lines)
    for secret in (TOKEN, "k3y-value", "abc.def", "hunter2", "shb-value", "basic-value"):
        assert secret not in written
    assert "/api/health?token=[redacted]&limit=5" in written
    assert "agentToken=[redacted]&auth=[redacted]" in written


def test_shoals_own_log_lines_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    configure_logging("info")
    logging.getLogger("shoal.test").warning("calling %s", "https://example.org/x?secret=s3cr3t")
    logging.getLogger("shoal.test").warning(f"handshake with {TOKEN}")
    assert "s3cr3t" not in caplog.text and TOKEN not in caplog.text
    assert "https://example.org/x?secret=[redacted]" in caplog.text
