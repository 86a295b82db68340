"""What people schedule: heartbeats and cron jobs, their commands, and who they address.
They run on the generic due-work engine in `shoal.scheduler`."""
