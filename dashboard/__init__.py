"""The Flask dashboard. Planned; see README.md."""
