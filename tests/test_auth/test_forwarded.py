"""Who the client is: X-Forwarded-For counts only when it comes from a configured proxy."""

from __future__ import annotations

from pathlib import Path

import pytest

from shoal.config import load_settings
from shoal.errors import InvalidInput
from tests.support import make_settings, serve

ATTEMPTS = 3


async def login_statuses(
    tmp_path: Path, forwarded_allow_ips: str, addresses: list[str]
) -> list[int]:
    """The answers to one failed login per address given in X-Forwarded-For."""
    settings = make_settings(
        tmp_path,
        "sqlite",
        auth_attempts_per_minute=ATTEMPTS,
        forwarded_allow_ips=forwarded_allow_ips,
    )
    statuses = []
    async for server in serve(settings):
        http = server.http()
        for address in addresses:
            r = await http.post(
                "/api/auth/login",
                headers={"X-Forwarded-For": address},
                json={"username": "nobody", "password": "wrong password"},
            )
            statuses.append(r.status_code)
    return statuses


async def test_forwarded_for_from_loopback_does_not_dodge_the_login_limit(tmp_path: Path) -> None:
    addresses = [f"203.0.113.{i}" for i in range(ATTEMPTS + 2)]
    statuses = await login_statuses(tmp_path, "", addresses)
    assert statuses == [401] * ATTEMPTS + [429, 429]


async def test_a_configured_proxy_is_believed(tmp_path: Path) -> None:
    spread = [f"203.0.113.{i}" for i in range(ATTEMPTS + 2)]
    assert await login_statuses(tmp_path, "127.0.0.1", spread) == [401] * (ATTEMPTS + 2)
    # One client behind the proxy is still limited by its own address.
    same = ["198.51.100.7"] * (ATTEMPTS + 1)
    assert await login_statuses(tmp_path, "127.0.0.0/8, ::1", same) == [401] * ATTEMPTS + [429]


def test_a_proxy_that_is_not_an_address_is_refused_at_start() -> None:
    with pytest.raises(InvalidInput, match="forwarded_allow_ips.*not a network"):
        load_settings(forwarded_allow_ips="proxy.internal")
