"""Agent runs: live status, tool cards, streams, permission gates, interrupts, transcripts."""

from shoal.runs.service import Recorded, RunService

__all__ = ["Recorded", "RunService"]
