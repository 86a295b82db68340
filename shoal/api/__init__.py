"""The REST API, one router per resource."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from shoal import __version__
from shoal.api import (
    activations,
    agencies,
    agent_tools,
    agents,
    attachments,
    auth,
    dm,
    faces,
    hooks,
    house_settings,
    houses,
    manage,
    mcp_servers,
    reactions,
    room_commands,
    runs,
    schedules,
)


def install_routes(app: FastAPI) -> None:
    """Mount every router, and the health check."""
    for module in (auth, agents, agent_tools, activations, attachments, agencies, dm, faces,
                   hooks, houses, house_settings, manage, mcp_servers, reactions, room_commands,
                   runs, schedules):
        app.include_router(module.router)

    @app.get("/api/health", tags=["meta"])
    async def health() -> dict[str, Any]:
        """Liveness: answers when the process serves requests."""
        return {"ok": True, "version": __version__}


__all__ = ["install_routes"]
