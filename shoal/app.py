"""The one ASGI app serving REST, the OpenAPI docs and Socket.IO."""

from __future__ import annotations

import hmac
import logging
import re
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import socketio
import uvicorn
from aiohttp import web
from fastapi import FastAPI

from shoal import __version__, metrics
from shoal.api import custom_commands, install_routes, webhooks
from shoal.api.bodies import JsonTextCheck
from shoal.api.errors import ErrorBoundary, install_error_handlers
from shoal.api.limits import BodySizeLimit
from shoal.api.openapi import DocumentedAPI
from shoal.config import Settings
from shoal.core import Shoal
from shoal.logs import log_context, new_request_id, uvicorn_log_config
from shoal.web import WebApp, is_web_path

log = logging.getLogger("shoal")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# A request id a client or proxy sends is kept when it is short and plain; else a new one.
_GOOD_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,64}")

UPLOAD_PATHS = r"/api/agencies/[^/]+/attachments|/api/me/avatar|/api/agents/[^/]+/avatar"


def create_app(settings: Settings, shoal: Shoal | None = None) -> Any:
    """The ASGI app: FastAPI under /api, Socket.IO at /socket.io, the web app (and the API
    docs at /docs) at /."""
    shoal = shoal or Shoal(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await shoal.start()
        try:
            async with operator_listener(shoal):
                yield
        finally:
            await shoal.stop()

    api = DocumentedAPI(
        title="Shoal",
        version=__version__,
        description="People and AI agents working together in rooms.",
        lifespan=lifespan,
        docs_url=None,  # the web app serves the docs page, with its assets
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    api.state.shoal = shoal
    install_error_handlers(api)
    install_routes(api)
    api.include_router(custom_commands.router)
    api.include_router(webhooks.router)
    app = socketio.ASGIApp(shoal.gateway.sio, other_asgi_app=WebApp(api),
                           socketio_path="socket.io")
    # An upload's body is its file plus the multipart framing around it.
    upload_cap = settings.attachment_max_bytes + 64 * 1024
    too_large = (f"the file is larger than this server's {settings.attachment_max_bytes}-byte "
                 "attachment limit")
    wrapped = Operations(ErrorBoundary(BodySizeLimit(
        JsonTextCheck(app), settings.max_body_bytes,
        larger=[(UPLOAD_PATHS, upload_cap, too_large)])), settings.metrics_token)
    wrapped.shoal = shoal  # type: ignore[attr-defined]
    return wrapped


class Operations:
    """ASGI middleware, outermost: gives every HTTP request an id (the client's
    `X-Request-Id` when it is plain, else a new one; echoed in the answer and on every log
    line the request causes), counts requests by route template and status with their
    latency, and answers `/metrics` to a bearer of the metrics token."""

    def __init__(self, app: Any, metrics_token: str) -> None:
        self.app = app
        self.metrics_token = metrics_token.encode()
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        started = time.perf_counter()
        status = [500]

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = [*message.get("headers", ()),
                                      (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            with log_context(request_id=request_id):
                if scope["path"] == "/metrics" and self.metrics_token:
                    await self._metrics(scope, send_with_id)
                else:
                    await self.app(scope, receive, send_with_id)
        finally:
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            key = (method, _route_template(scope), status[0])
            series = self._series.get(key)
            if series is None:  # the label lookups, once per method, route and status
                series = self._series[key] = (
                    metrics.http_requests.labels(key[0], key[1], str(key[2])),
                    metrics.http_duration.labels(key[0], key[1]))
            series[0].inc()
            series[1].observe(time.perf_counter() - started)

    async def _metrics(self, scope: dict[str, Any], send: Any) -> None:
        given = dict(scope["headers"]).get(b"authorization", b"")
        if hmac.compare_digest(given, b"Bearer " + self.metrics_token):
            body, content_type = metrics.exposition()
            status, headers = 200, [(b"content-type", content_type.encode())]
        else:
            body = b'{"error": "the metrics token is missing or wrong: send Authorization: Bearer <metrics_token>"}'  # noqa: E501
            status = 401
            headers = [(b"content-type", b"application/json"),
                       (b"www-authenticate", b'Bearer realm="metrics"')]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _request_id(scope: dict[str, Any]) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            given = value.decode("latin-1")
            if _GOOD_REQUEST_ID.fullmatch(given):
                return str(given)
            break
    return new_request_id()


def _route_template(scope: dict[str, Any]) -> str:
    """The matched route's template (`/api/agencies/{room_id}`), never the raw path, so the
    number of series stays bounded."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    if isinstance(template, str):
        return template
    path = str(scope["path"])
    if path == "/metrics":
        return path
    if path == "/socket.io" or path.startswith("/socket.io/"):
        return "/socket.io"
    if is_web_path(scope):
        return "web app"
    return "unmatched"


@asynccontextmanager
async def operator_listener(shoal: Shoal) -> AsyncIterator[None]:
    """With `metrics_port` set, serve /metrics and /ready (liveness at /health) on
    metrics_host:metrics_port for the life of the block, without a token: for a scraper or
    an orchestrator on a private network, and for workers and schedulers, which have no
    other port."""
    settings = shoal.settings
    if not settings.metrics_port:
        yield
        return

    async def scrape(_: web.Request) -> web.Response:
        body, content_type = metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def ready(_: web.Request) -> web.Response:
        problems = await shoal.readiness()
        body = {"ready": not problems, "roles": list(shoal.roles), "version": __version__}
        if problems:
            body.update(error="; ".join(problems), problems=problems)
        return web.json_response(body, status=503 if problems else 200)

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"ok": True, "version": __version__})

    app = web.Application()
    app.router.add_get("/metrics", scrape)
    app.router.add_get("/ready", ready)
    app.router.add_get("/health", health)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.metrics_host, settings.metrics_port)
    await site.start()
    log.info("metrics and readiness on http://%s:%d/metrics and /ready",
             settings.metrics_host, settings.metrics_port)
    try:
        yield
    finally:
        await runner.cleanup()


class DrainingServer(uvicorn.Server):
    """uvicorn, draining Shoal's sockets on SIGTERM before it closes connections: once it
    stops listening, every socket gets the answers to what it sent and a Socket.IO disconnect,
    so its client reconnects to another process; then requests in flight finish within the
    grace and the lifespan's end stores what the group commit holds."""

    def __init__(self, config: uvicorn.Config, shoal: Shoal) -> None:
        super().__init__(config)
        self.shoal = shoal

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Stop listening, drain the sockets, then shut down as uvicorn does."""
        for server in self.servers:
            server.close()
        await self.shoal.drain_sockets()
        await super().shutdown(sockets)


def server_config(settings: Settings, app: Any, **options: Any) -> uvicorn.Config:
    """How uvicorn serves Shoal: its log lines redacted, and `X-Forwarded-For` believed only
    from the proxies in `forwarded_allow_ips` (by default from nobody, not even loopback,
    so a client cannot pick its own address and dodge per-client limits)."""
    proxies = settings.forwarded_allow_ips.strip()
    defaults: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "log_config": uvicorn_log_config(settings.log_format),
        "proxy_headers": bool(proxies),
        "forwarded_allow_ips": proxies or None,
        # On SIGTERM (see DrainingServer), requests in flight get the grace.
        "timeout_graceful_shutdown": settings.shutdown_grace_seconds,
    }
    return uvicorn.Config(app, **{**defaults, **options})
