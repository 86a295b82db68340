"""The web app is served at `/` without shadowing the API, the docs or Socket.IO."""

from __future__ import annotations

import re

import pytest

from tests.support import ShoalServer


@pytest.mark.parametrize("path", ["/", "/login", "/rooms/abc", "/runs/r1", "/house/h1/agents"])
async def test_app_paths_answer_the_page(shoal_server: ShoalServer, path: str) -> None:
    r = await shoal_server.http().get(path)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/static/app.js">' in r.text
    # No inline script may ever run, whatever a message contains.
    assert "script-src 'self'" in r.headers["content-security-policy"]


async def test_static_modules_are_served_with_their_type(shoal_server: ShoalServer) -> None:
    http = shoal_server.http()
    r = await http.get("/static/api.js")
    assert r.status_code == 200
    assert "javascript" in r.headers["content-type"]
    assert "export async function api(" in r.text
    assert (await http.get("/static/no-such-file.js")).status_code == 404


async def test_api_docs_and_sockets_are_not_shadowed(shoal_server: ShoalServer) -> None:
    http = shoal_server.http()
    r = await http.get("/api/no-such-endpoint")
    assert r.status_code == 404 and r.json() == {"error": "no such endpoint"}
    r = await http.get("/api/auth/login")
    assert r.status_code == 405 and "error" in r.json()
    assert (await http.get("/api/health")).json()["ok"] is True
    assert (await http.get("/docs")).status_code == 200
    paths = (await http.get("/openapi.json")).json()["paths"]
    assert all(p.startswith("/api/") for p in paths)
    r = await http.get("/socket.io/", params={"EIO": "4", "transport": "polling"})
    assert r.status_code == 200 and r.text.startswith("0{")


async def test_api_docs_are_served_from_the_package(shoal_server: ShoalServer) -> None:
    http = shoal_server.http()
    r = await http.get("/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp
    assert not re.search(r"https?:|//", csp), csp
    assert "<script>" not in r.text  # every script is a file the policy allows
    assets = re.findall(r'(?:src|href)="([^"]+)"', r.text)
    assert {a for a in assets if a != "data:,"} == {
        "/docs/swagger-ui.css", "/docs/swagger-ui-bundle.js", "/docs/docs.js"}
    for asset, kind in (("/docs/swagger-ui.css", "text/css"),
                        ("/docs/swagger-ui-bundle.js", "javascript"),
                        ("/docs/docs.js", "javascript")):
        r = await http.get(asset)
        assert r.status_code == 200 and kind in r.headers["content-type"], asset
        assert r.headers["content-security-policy"] == csp
    assert "/openapi.json" in (await http.get("/docs/docs.js")).text


async def test_other_methods_on_app_paths_stay_api_errors(shoal_server: ShoalServer) -> None:
    r = await shoal_server.http().post("/rooms/abc", json={})
    assert r.status_code in (404, 405) and "error" in r.json()
