"""A deployable release of the order service's backend, for the deployer's sandbox hosts.

``write_release(directory, "2.0.0", python=sys.executable, redis_url=...)`` writes:

* ``VERSION`` — the version;
* ``launch.json`` — how to start it: the backend's command line, with ``$APP_ADDRESS``,
  ``$APP_PORT`` and ``$OAM_SHARED_DIR`` filled in from the host's environment at start;
* ``bin/restart`` — stops the running backend (pid file ``$OAM_SHARED_DIR/app.pid``) and starts
  this release's detached, logging to ``$OAM_SHARED_DIR/logs/app.log``.

``broken=True`` ships a release whose Redis URL is malformed, so the backend exits at start and
its health check fails: the deployer must roll it back. ``fail_reads=0.3`` ships one that starts
and passes its health check but fails that share of order reads (500): only a verdict on its
telemetry stops it. The backend's telemetry carries the deploy configuration's host name
(``$OAM_HOST``), as the deployer's analysis tells hosts apart by it.
"""
from __future__ import annotations

from pathlib import Path

from .sample_release import write_restart

BROKEN_REDIS_URL = "redis://127.0.0.1:not-a-port/0"


def write_release(directory: Path, version: str, *, python: str, redis_url: str, environment: str = "development",
                  broken: bool = False, fail_reads: float = 0.0) -> Path:
    """Write the backend release for ``version`` into ``directory``; returns it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "VERSION").write_text(version + "\n")
    argv = [python, "-m", "oam", "sample", "backend", "--release", version, "--environment", environment,
            "--bind", "$APP_ADDRESS", "--port", "$APP_PORT", "--redis-url", BROKEN_REDIS_URL if broken else redis_url,
            "--data-dir", "$OAM_SHARED_DIR/data", "--telemetry-dir", "$OAM_SHARED_DIR/logs", "--host-name", "$OAM_HOST"]
    if fail_reads:
        argv += ["--fail-order-reads", str(fail_reads)]
    write_restart(directory, argv)
    return directory
