"""Crews: agents working one goal together in a room, with a lead, roles, a task board,
resource locks and an activity feed; CREW_UPDATE keeps members told, and the lead's heartbeat
nudges an idle lead."""
