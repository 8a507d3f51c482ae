"""A deployable release of the order service's backend, for the deployer's sandbox hosts.

``write_release(directory, "2.0.0", python=sys.executable, redis_url=...)`` writes:

* ``VERSION`` — the version;
* ``launch.json`` — how to start it: the backend's command line, with ``$APP_ADDRESS``,
  ``$APP_PORT`` and ``$OAM_SHARED_DIR`` filled in from the host's environment at start;
* ``bin/restart`` — stops the running backend (pid file ``$OAM_SHARED_DIR/app.pid``) and starts
  this release's detached, logging to ``$OAM_SHARED_DIR/logs/app.log``.

``broken=True`` ships a release whose Redis URL is malformed, so the backend exits at start and
its health check fails: the deployer must roll it back.
"""
from __future__ import annotations

import json
from pathlib import Path

RESTART = '''\
#!/usr/bin/env python3
"""Stop the running backend (if the pid file names one of ours) and start this release's."""
import json
import os
import pathlib
import signal
import string
import subprocess
import time

release = pathlib.Path(__file__).resolve().parent.parent
shared = pathlib.Path(os.environ["OAM_SHARED_DIR"])
root = os.environ["OAM_DEPLOY_ROOT"]
pid_file = shared / "app.pid"


def ours(pid):
    try:
        return root in pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False


if pid_file.exists():
    try:
        pid = int(json.loads(pid_file.read_text())["pid"])
    except (ValueError, KeyError):
        pid = 0
    if pid and ours(pid):
        os.kill(pid, signal.SIGTERM)
        for _ in range(200):
            if not ours(pid):
                break
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)
launch = json.loads((release / "launch.json").read_text())
argv = [string.Template(part).substitute(os.environ) for part in launch["argv"]]
(shared / "logs").mkdir(parents=True, exist_ok=True)
with open(shared / "logs" / "app.log", "ab") as log:
    child = subprocess.Popen(argv, cwd=release, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True)
pid_file.write_text(json.dumps({"pid": child.pid, "marker": root}))
'''

BROKEN_REDIS_URL = "redis://127.0.0.1:not-a-port/0"


def write_release(directory: Path, version: str, *, python: str, redis_url: str, environment: str = "development",
                  broken: bool = False) -> Path:
    """Write the backend release for ``version`` into ``directory``; returns it."""
    directory = Path(directory)
    (directory / "bin").mkdir(parents=True, exist_ok=True)
    (directory / "VERSION").write_text(version + "\n")
    argv = [python, "-m", "oam", "sample", "backend", "--release", version, "--environment", environment,
            "--host", "$APP_ADDRESS", "--port", "$APP_PORT", "--redis-url", BROKEN_REDIS_URL if broken else redis_url,
            "--data-dir", "$OAM_SHARED_DIR/data", "--telemetry-dir", "$OAM_SHARED_DIR/logs"]
    (directory / "launch.json").write_text(json.dumps({"argv": argv}, indent=2) + "\n")
    restart = directory / "bin" / "restart"
    restart.write_text(RESTART)
    restart.chmod(0o755)
    return directory
