"""Sub-agents: children an agent spawns for one task each, run in their own lane, isolated
from the room, with their end announced exactly once."""

from shoal.subagents.service import SubagentService, subagent_view
from shoal.subagents.tables import STATES, Subagent

__all__ = ["STATES", "SubagentService", "Subagent", "subagent_view"]
