"""One error shape for every REST answer: `{"error": "..."}` with the right status."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from shoal.errors import ShoalError
from shoal.validation import describe_errors

log = logging.getLogger("shoal.api")
INTERNAL_ERROR = "internal error; the server logged the details"


def error_response(status: int, message: str, headers: dict[str, str] | None = None
                   ) -> JSONResponse:
    """The JSON error body every failure uses."""
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception through the one error shape; a 500 never shows internals."""

    @app.exception_handler(ShoalError)
    async def shoal_error(_: Request, exc: ShoalError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(400, describe_errors(exc.errors()))

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404 and message == "Not Found":
            message = "no such endpoint"
        return error_response(exc.status_code, message, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, INTERNAL_ERROR)


class ErrorBoundary:
    """ASGI middleware: an exception escaping the app never reaches the server, which would
    drop the client's keep-alive connection. Starlette re-raises an unhandled exception after
    its 500 answer has gone out; that one is already logged. One with no answer yet gets the
    500 JSON answer here."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = {"started": False, "ended": False}

        async def tracking_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                state["started"] = True
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                state["ended"] = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            if state["ended"]:
                return
            if state["started"]:
                raise  # half an answer is out: only closing the connection can end it
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            await error_response(500, INTERNAL_ERROR)(scope, receive, send)
