"""An MCP server on stdin/stdout, as an operator declares one: `[mcp.servers.x] command`."""

import os

from mcp.server.mcpserver import MCPServer

server: MCPServer = MCPServer("stdio-demo", log_level="WARNING")


@server.tool()
def shout(text: str) -> str:
    """The text in capitals, with the GREETING from the environment."""
    return f"{os.environ.get('GREETING', '')}{text.upper()}"


if __name__ == "__main__":
    server.run("stdio")
