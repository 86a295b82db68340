"""Tools from MCP servers: a house's own (over HTTP) and the operator's (HTTP or stdio)."""

from shoal.tools.mcp.config import MCPConfig, OperatorServer
from shoal.tools.mcp.service import Check, MCPService, Server, ServerDown, tool_name

__all__ = ["Check", "MCPConfig", "MCPService", "OperatorServer", "Server", "ServerDown",
           "tool_name"]
