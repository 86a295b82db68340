"""Agent runs: live status, tool cards, streams, permission gates, interrupts, transcripts."""
