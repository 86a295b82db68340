"""The tools agents call: one registry over every kind (slash commands, Shoal's own tools such
as the web tools, and MCP servers' tools), one layered policy, and one path for every call."""
