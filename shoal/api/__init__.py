"""The REST API, one router per resource."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from shoal import __version__
from shoal.api import (
    activations,
    agencies,
    agent_tools,
    agents,
    attachments,
    auth,
    crew_heartbeat,
    crews,
    dm,
    faces,
    hooks,
    house_settings,
    houses,
    manage,
    mcp_servers,
    memory,
    reactions,
    room_commands,
    runs,
    schedules,
    sessions,
    subagents,
)
from shoal.api.openapi import errors as error_responses


def install_routes(app: FastAPI) -> None:
    """Mount every router, and the health check."""
    for module in (auth, agents, crews, crew_heartbeat, agent_tools, activations, attachments,
                   agencies, dm, faces, hooks, houses, house_settings, manage, mcp_servers,
                   memory, reactions, room_commands, runs, schedules, sessions, subagents):
        app.include_router(module.router)

    @app.get("/api/health", tags=["meta"])
    async def health() -> dict[str, Any]:
        """Liveness: answers when the process serves requests."""
        return {"ok": True, "version": __version__}

    @app.get("/api/ready", tags=["meta"], responses=error_responses(503))
    async def ready(request: Request) -> JSONResponse:
        """Readiness, for load balancers: 200 when this process's roles run, the database
        answers at the newest schema and Redis (when configured) answers; otherwise 503 with
        the reasons."""
        shoal = request.app.state.shoal
        problems = await shoal.readiness()
        body = {"ready": not problems, "roles": list(shoal.roles), "version": __version__}
        if problems:
            return JSONResponse({**body, "error": "; ".join(problems), "problems": problems},
                                status_code=503)
        return JSONResponse(body)


__all__ = ["install_routes"]
