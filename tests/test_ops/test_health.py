"""Liveness and readiness for load balancers; unknown operator paths answer a JSON 404."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from shoal.store.migrate import head_revision
from tests.support import ShoalServer, make_settings, serve


async def test_a_started_process_is_ready(shoal_server: ShoalServer) -> None:
    http = shoal_server.http()
    assert (await http.get("/api/health")).json()["ok"] is True
    r = await http.get("/api/ready")
    assert r.status_code == 200, r.text
    assert r.json()["ready"] is True
    assert r.json()["roles"] == ["api", "worker", "scheduler"]


@pytest.mark.parametrize("path", ["/metrics", "/metrics/x", "/api/nope", "/api/nope/deeper",
                                  "/api/ready/x"])
async def test_unknown_operator_and_api_paths_answer_json_404(
        shoal_server: ShoalServer, path: str) -> None:
    r = await shoal_server.http().get(path)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/json")
    assert r.json() == {"error": "no such endpoint"}


async def test_a_schema_behind_the_code_makes_the_process_not_ready(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "sqlite", role="api")
    async for server in serve(settings):
        http = server.http()
        r = await http.get("/api/ready")
        assert r.status_code == 200 and r.json()["roles"] == ["api"]
        async with server.shoal.db.write() as session:
            await session.execute(sa.text("UPDATE alembic_version SET version_num = '0001'"))
        r = await http.get("/api/ready")
        assert r.status_code == 503
        assert r.json()["ready"] is False
        assert f"schema is at 0001, not {head_revision()}" in r.json()["error"]
        assert "shoal migrate" in r.json()["error"]
        async with server.shoal.db.write() as session:
            await session.execute(sa.text("UPDATE alembic_version SET version_num = :v"),
                                  {"v": head_revision()})
        assert (await http.get("/api/ready")).status_code == 200
        await server.shoal.stop()  # what a process shutting down looks like from outside
        r = await http.get("/api/ready")
        assert r.status_code == 503
        assert "not running (starting up or shutting down)" in r.json()["error"]


@pytest.mark.skipif(not os.environ.get("SHOAL_TEST_REDIS_URL"),
                    reason="set SHOAL_TEST_REDIS_URL to run")
async def test_an_api_process_with_redis_is_ready(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "sqlite", role="api",
                             redis_url=os.environ["SHOAL_TEST_REDIS_URL"])
    async for server in serve(settings):
        r = await server.http().get("/api/ready")
        assert r.status_code == 200 and r.json()["roles"] == ["api"]
        await server.shoal.gateway._redis.aclose()  # the connection pool, as after Redis died
        server.shoal.gateway._redis = type(server.shoal.gateway._redis).from_url(
            "redis://127.0.0.1:1/0")
        r = await server.http().get("/api/ready")
        assert r.status_code == 503 and "Redis is unreachable" in r.json()["error"]
