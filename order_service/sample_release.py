"""A minimal release to try the deployer with: an HTTP app whose ``/health`` reports its version.

``write_sample_release(directory, "1.0.0")`` writes:

* ``VERSION`` — the version;
* ``app.py`` — serves ``GET /health`` -> ``{"status": "ok", "version": ...}`` on ``$APP_ADDRESS:$APP_PORT``;
  it answers 503 while ``$OAM_SHARED_DIR/data/fail-health-<version>`` exists (to rehearse a failed
  deploy on one host), and exits by itself once its release directory is gone. ``GET /orders/<id>``
  answers an order after about 20 ms; a release written with ``fail_ratio`` fails that share of
  them (500, and a ``KeyError`` error document), one with ``slow_factor`` answers that much slower
  (``behaviour.json``), while ``/health`` stays fine. With ``$OAM_COLLECTOR_URL`` and
  ``$OAM_COLLECTOR_TOKEN`` in the host's env it reports each order request as an ECS transaction
  (``service.name`` ``sample``, ``host.name`` ``$OAM_HOST``) to the collector's ``/v1/ingest``,
  twice a second, as the host agent ships its lines;
* ``config/settings.json.j2`` — its settings file, which the deployer renders into ``config/settings.json``
  with the CMDB keys ``<environment>/<service>/config/order_delay_ms`` (default 20) and
  ``.../config/greeting`` (default ``hello``), a host's override first. The app reads it at start and
  serves it on ``GET /settings``; a setting it cannot use (``order_delay_ms`` not a number >= 0) makes
  ``/health`` answer 503 ``bad configuration: ...``;
* ``bin/restart`` and ``launch.json`` — stops the running app (pid file ``$OAM_SHARED_DIR/app.pid``)
  and starts this one detached (``setsid``) with Debian's ``/usr/bin/python3``, logging to
  ``$OAM_SHARED_DIR/logs/app.log``.

Deploy configuration to go with it: ``"restart": "./bin/restart"``, host ``env`` with ``APP_PORT``
and ``APP_ADDRESS``, health URL ``http://{address}:{APP_PORT}/health``.
"""
from __future__ import annotations

import json
from pathlib import Path

APP = '''\
import datetime
import gzip
import json
import os
import pathlib
import random
import secrets
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RELEASE = pathlib.Path(__file__).resolve().parent
VERSION = (RELEASE / "VERSION").read_text().strip()
SETTINGS_FILE = RELEASE / "config" / "settings.json"
SHARED = pathlib.Path(os.environ["OAM_SHARED_DIR"])
BEHAVIOUR = json.loads((RELEASE / "behaviour.json").read_text()) if (RELEASE / "behaviour.json").exists() else {}
COLLECTOR, TOKEN = os.environ.get("OAM_COLLECTOR_URL", ""), os.environ.get("OAM_COLLECTOR_TOKEN", "")
HOST = os.environ.get("OAM_HOST", "")
pending, pending_lock = [], threading.Lock()


def load_settings():
    """The rendered settings file and what is wrong with it ("" if nothing)."""
    if not SETTINGS_FILE.exists():
        return {}, ""
    try:
        data = json.loads(SETTINGS_FILE.read_text())
    except ValueError as exc:
        return {}, f"config/settings.json is not JSON: {exc}"
    delay = data.get("order_delay_ms", 20)
    if isinstance(delay, bool) or not isinstance(delay, (int, float)) or delay < 0:
        return data, f"order_delay_ms must be a number >= 0, not {delay!r}"
    return data, ""


SETTINGS, SETTINGS_PROBLEM = load_settings()
ORDER_DELAY = SETTINGS.get("order_delay_ms", 20) / 1000 if not SETTINGS_PROBLEM else 0.02


def document(kind, fields, at):
    doc = {"_kind": kind, "@timestamp": at, "service": {"name": "sample", "version": VERSION},
           "host": {"name": HOST}, "event": {"dataset": f"sample.{kind}"}, **fields}
    return json.dumps(doc)


def report(seconds, failed, at):
    if not COLLECTOR:
        return
    tx = secrets.token_hex(8)
    lines = [document("transactions", {"transaction": {"id": tx, "name": "GET /orders", "type": "request"},
                                       "trace": {"id": secrets.token_hex(16)},
                                       "event": {"dataset": "sample.transactions", "duration": int(seconds * 1e9),
                                                 "outcome": "failure" if failed else "success"}}, at)]
    if failed:
        lines.append(document("errors", {"error": {"id": secrets.token_hex(8), "type": "KeyError",
                                                   "message": "order not in this release's store",
                                                   "grouping_key": "KeyError:orders-" + VERSION},
                                         "transaction": {"id": tx}}, at))
    with pending_lock:
        pending.extend(lines)


def ship():
    while True:
        time.sleep(0.5)
        with pending_lock:
            lines = pending[:]
            del pending[:]
        if not lines:
            continue
        request = urllib.request.Request(COLLECTOR.rstrip("/") + "/v1/ingest", method="POST",
                                         data=gzip.compress("\\n".join(lines).encode()),
                                         headers={"Authorization": f"Bearer {TOKEN}", "Content-Encoding": "gzip",
                                                  "Content-Type": "application/x-ndjson"})
        try:
            urllib.request.urlopen(request, timeout=5).read()
        except OSError:
            pass


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/orders/"):
            self.order()
            return
        if self.path == "/settings":
            self.answer(200, SETTINGS)
            return
        if self.path != "/health":
            self.send_error(404)
            return
        failing = (SHARED / "data" / f"fail-health-{VERSION}").exists()
        status = f"bad configuration: {SETTINGS_PROBLEM}" if SETTINGS_PROBLEM else "failing" if failing else "ok"
        self.answer(503 if status != "ok" else 200, {"status": status, "version": VERSION})

    def answer(self, code, data):
        body = json.dumps(data).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def order(self):
        begun = time.monotonic()
        at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
        time.sleep(random.uniform(0.75, 1.25) * ORDER_DELAY * BEHAVIOUR.get("slow_factor", 1))
        failed = random.random() < BEHAVIOUR.get("fail_ratio", 0)
        body = json.dumps({"error": "order not found"} if failed else {"order": self.path.rsplit("/", 1)[1]}).encode()
        self.send_response(500 if failed else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        report(time.monotonic() - begun, failed, at)

    def log_message(self, *args):
        pass


def exit_when_release_is_gone():
    while RELEASE.exists():
        time.sleep(1)
    os._exit(0)


threading.Thread(target=exit_when_release_is_gone, daemon=True).start()
threading.Thread(target=ship, daemon=True).start()
server = ThreadingHTTPServer((os.environ.get("APP_ADDRESS", "127.0.0.1"), int(os.environ["APP_PORT"])), Handler)
print(f"version {VERSION} listening on {server.server_address}", flush=True)
server.serve_forever()
'''

RESTART = '''\
#!/usr/bin/python3
"""Stop the running app (if the pid file names one of ours) and start this release's detached.

The command line is the release's launch.json ``argv``, with ``$NAME`` filled in from the
environment the deployer gives the restart command (the host's env, OAM_SHARED_DIR, ...) and
``$RELEASE_DIR``, this release's absolute path (an app is "ours" when its command line names
the deploy root).
"""
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
    text = pid_file.read_text().strip()
    pid = int(text) if text.isdigit() else 0
    if pid and ours(pid):
        os.kill(pid, signal.SIGTERM)
        for _ in range(200):
            if not ours(pid):
                break
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)
launch = json.loads((release / "launch.json").read_text())
argv = [string.Template(part).substitute(os.environ, RELEASE_DIR=str(release)) for part in launch["argv"]]
(shared / "logs").mkdir(parents=True, exist_ok=True)
with open(shared / "logs" / "app.log", "ab") as log:
    child = subprocess.Popen(argv, cwd=release, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True)
pid_file.write_text(f"{child.pid}\\n")
'''


SETTINGS_TEMPLATE = """\
{
  "environment": {{ oam.environment | tojson }},
  "host": {{ oam.host | tojson }},
  "greeting": {{ greeting | default("hello") | tojson }},
  "order_delay_ms": {{ order_delay_ms | default(20) | tojson }}
}
"""


def write_restart(directory: Path, argv: list[str]) -> None:
    """Write ``bin/restart`` and the ``launch.json`` it starts (``argv``; ``$NAME`` from the host's env,
    ``$RELEASE_DIR`` the release's path)."""
    (directory / "bin").mkdir(parents=True, exist_ok=True)
    (directory / "launch.json").write_text(json.dumps({"argv": argv}, indent=2) + "\n")
    restart = directory / "bin" / "restart"
    restart.write_text(RESTART)
    restart.chmod(0o755)


def write_sample_release(directory: Path, version: str, *, fail_ratio: float = 0.0, slow_factor: float = 1.0) -> Path:
    """Write the sample release for ``version`` into ``directory``; returns it. ``fail_ratio`` of its
    order reads fail, each ``slow_factor`` times slower; its health check passes either way."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "VERSION").write_text(version + "\n")
    (directory / "behaviour.json").write_text(json.dumps({"fail_ratio": fail_ratio, "slow_factor": slow_factor}))
    (directory / "app.py").write_text(APP)
    (directory / "config").mkdir(exist_ok=True)
    (directory / "config" / "settings.json.j2").write_text(SETTINGS_TEMPLATE)
    write_restart(directory, ["/usr/bin/python3", "$RELEASE_DIR/app.py"])
    return directory


def sample_config(hosts: list[dict], *, restart: str = "./bin/restart", health_retries: int = 20,
                  health_interval: float = 0.25, keep_releases: int = 3, analysis: dict | None = None) -> dict:
    """A deploy configuration for the sample release on ``hosts`` (each with APP_PORT/APP_ADDRESS env);
    no analysis after each batch unless ``analysis`` says otherwise (the sample app sends no telemetry)."""
    return {
        "analysis": analysis if analysis is not None else {"bake_seconds": 0},
        "hosts": hosts,
        "restart": restart,
        "shared_dirs": ["logs", "data"],
        "health": {"url": "http://{address}:{APP_PORT}/health", "timeout": 1.0, "retries": health_retries,
                   "interval": health_interval, "expect_version": True},
        "keep_releases": keep_releases,
        "command_timeout": 30,
    }
