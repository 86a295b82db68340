"""The browser app: static HTML, CSS and ES modules served at `/`, with no build step.

Every GET that is not the API or Socket.IO answers `index.html`, so the app's own router can
read paths like `/rooms/{id}` or `/runs/{id}`; files are served under `/static/`. The API docs
(Swagger UI) are served at `/docs` the same way, from files in the package: they work offline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

STATIC_DIR = Path(__file__).parent / "static"
# The docs page and the script that starts Swagger UI; Swagger UI's own files (Apache-2.0)
# come from the fastapi-offline package, which ships them for use without a CDN.
DOCS_DIR = Path(__file__).parent / "docs"
SWAGGER_UI_FILES = ("fastapi_offline", "static")
# Paths the API app owns; everything else a browser GETs belongs to the web app. Under these
# an unknown path answers a JSON 404, never the web app's page (/metrics included when
# metrics are off, so a scraper pointed at the wrong place sees the error).
API_PREFIXES = ("/api", "/socket.io", "/openapi.json", "/metrics")
# No script but our own modules: even a markdown bug cannot run a message's script.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Modules are not fingerprinted, so browsers revalidate them (a 304 when unchanged).
    "Cache-Control": "no-cache",
}


def is_web_path(scope: Scope) -> bool:
    """Whether an HTTP request is the web app's: a GET or HEAD outside the API's paths."""
    if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
        return False
    path: str = scope["path"]
    return not any(path == p or path.startswith(p + "/") for p in API_PREFIXES)


class _Static(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(HEADERS)
        return response


async def _index(_: Request) -> Response:
    return FileResponse(STATIC_DIR / "index.html", headers=HEADERS, media_type="text/html")


async def _docs(_: Request) -> Response:
    return FileResponse(DOCS_DIR / "index.html", headers=HEADERS, media_type="text/html")


class WebApp:
    """ASGI app: the web app's paths go to the static files and the SPA fallback, the rest
    to the API app unchanged (its 404s and 405s stay JSON)."""

    def __init__(self, api: Any) -> None:
        self.api = api
        self.web = Starlette(routes=[
            Mount("/static", app=_Static(directory=STATIC_DIR), name="static"),
            Route("/docs", _docs, methods=["GET", "HEAD"]),
            Mount("/docs", app=_Static(directory=DOCS_DIR, packages=[SWAGGER_UI_FILES])),
            Route("/{path:path}", _index, methods=["GET", "HEAD"]),
        ])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if is_web_path(scope):
            await self.web(scope, receive, send)
        else:
            await self.api(scope, receive, send)


__all__ = ["STATIC_DIR", "WebApp", "is_web_path"]
