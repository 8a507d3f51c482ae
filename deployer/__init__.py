"""Rolling deploys over SSH with health checks and automatic rollback. Planned; see README.md."""
