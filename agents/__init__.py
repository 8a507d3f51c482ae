"""Host agent (one per server) and the in-process app agent. Planned; see README.md."""
