"""The one ASGI app serving REST, the OpenAPI docs and Socket.IO."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import socketio
import uvicorn
from fastapi import FastAPI

from shoal import __version__
from shoal.api import custom_commands, install_routes, webhooks
from shoal.api.bodies import JsonTextCheck
from shoal.api.errors import ErrorBoundary, install_error_handlers
from shoal.api.limits import BodySizeLimit
from shoal.api.openapi import DocumentedAPI
from shoal.config import Settings
from shoal.core import Shoal
from shoal.logs import uvicorn_log_config
from shoal.web import WebApp

UPLOAD_PATHS = r"/api/agencies/[^/]+/attachments|/api/me/avatar|/api/agents/[^/]+/avatar"


def create_app(settings: Settings, shoal: Shoal | None = None) -> Any:
    """The ASGI app: FastAPI under /api, Socket.IO at /socket.io, the web app (and the API
    docs at /docs) at /."""
    shoal = shoal or Shoal(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await shoal.start()
        try:
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
    wrapped = ErrorBoundary(BodySizeLimit(
        JsonTextCheck(app), settings.max_body_bytes,
        larger=[(UPLOAD_PATHS, upload_cap, too_large)]))
    wrapped.shoal = shoal  # type: ignore[attr-defined]
    return wrapped


def server_config(settings: Settings, app: Any, **options: Any) -> uvicorn.Config:
    """How uvicorn serves Shoal: its log lines redacted, and `X-Forwarded-For` believed only
    from the proxies in `forwarded_allow_ips` (by default from nobody, not even loopback,
    so a client cannot pick its own address and dodge per-client limits)."""
    proxies = settings.forwarded_allow_ips.strip()
    defaults: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "log_config": uvicorn_log_config(),
        "proxy_headers": bool(proxies),
        "forwarded_allow_ips": proxies or None,
    }
    return uvicorn.Config(app, **{**defaults, **options})
