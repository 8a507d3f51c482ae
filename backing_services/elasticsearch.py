"""A local single-node Elasticsearch: configure, start as an unprivileged user, wait, stop.

Usage::

    es = ElasticsearchServer(base_dir=Path("/tmp/es1"), http_port=9200)
    es.start()            # waits for yellow health, raises ServiceError with the log tail
    print(es.url)         # http://127.0.0.1:9200
    es.stop()

With ``security=True`` the HTTP API needs basic auth: user :data:`ADMIN_USER`, password
``es.password`` (default :data:`DEFAULT_PASSWORD`).
"""
from __future__ import annotations

import base64
import json
import os
import pwd
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from foundation.suite import ELASTICSEARCH_ADMIN_USER
from foundation.waiting import NotReady

from .distribution import ES_USER, ES_VERSION, es_home
from .java import java_home
from .ports import LOOPBACK, free_port, port_in_use
from .process import ManagedProcess, ServiceError, problems, tail

ADMIN_USER = ELASTICSEARCH_ADMIN_USER
DEFAULT_PASSWORD = "oam-admin-password"


def _run_as_user() -> str | None:
    """The account to run as: ES refuses root, so root hands it to :data:`ES_USER`."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(ES_USER)
    except KeyError:
        raise ServiceError(f"user {ES_USER!r} does not exist; run scripts/setup to create it") from None
    return ES_USER


class ElasticsearchServer:
    """One Elasticsearch node in its own directory (config, data, logs, tmp)."""

    def __init__(
        self,
        base_dir: Path,
        http_port: int = 9200,
        transport_port: int | None = None,
        heap_mb: int = 512,
        security: bool = False,
        password: str = DEFAULT_PASSWORD,
        host: str = LOOPBACK,
        home: Path | None = None,
        die_with_parent: bool = True,
    ) -> None:
        self.base_dir = Path(base_dir).resolve()
        self.http_port = http_port
        self.transport_port = transport_port
        self.heap_mb = heap_mb
        self.security = security
        self.password = password
        self.host = host
        self.home = home or es_home()
        self.user = _run_as_user()
        self.process = ManagedProcess(
            "elasticsearch",
            [str(self.home / "bin" / "elasticsearch")],
            cwd=self.logs_dir,
            log_path=self.logs_dir / "console.log",
            pid_file=self.base_dir / "elasticsearch.pid",
            marker=str(self.base_dir),
            env=self._env(),
            user=self.user,
            die_with_parent=die_with_parent,
        )

    # -- layout -------------------------------------------------------------------------
    @property
    def config_dir(self) -> Path:
        return self.base_dir / "config"

    @property
    def logs_dir(self) -> Path:
        return self.base_dir / "logs"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def auth(self) -> tuple[str, str] | None:
        return (ADMIN_USER, self.password) if self.security else None

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ES_", "JAVA_"))}
        env.update(
            ES_JAVA_HOME=str(java_home()),
            ES_PATH_CONF=str(self.config_dir),
            ES_TMPDIR=str(self.base_dir / "tmp"),
            ES_JAVA_OPTS=f"-Xms{self.heap_mb}m -Xmx{self.heap_mb}m",
            HOME=str(self.base_dir),
        )
        # The ES launcher aborts when the JVM cannot read the working directory.
        return env

    def _settings(self) -> dict[str, Any]:
        return {
            "cluster.name": f"oam-{self.http_port}",
            "node.name": f"oam-node-{self.http_port}",
            "path.data": str(self.base_dir / "data"),
            "path.logs": str(self.logs_dir),
            "network.host": self.host,
            "http.port": self.http_port,
            "transport.port": self.transport_port or free_port(self.host),
            "discovery.type": "single-node",
            # A shared development disk must not flip indices to read-only.
            "cluster.routing.allocation.disk.threshold_enabled": False,
            "xpack.security.enabled": self.security,
            "xpack.security.http.ssl.enabled": False,
            "xpack.security.transport.ssl.enabled": False,
            "action.destructive_requires_name": False,
        }

    def prepare(self) -> None:
        """Write this node's configuration (fresh each start) and hand the directory to its user."""
        if not (self.home / "bin" / "elasticsearch").exists():
            raise ServiceError(f"Elasticsearch {ES_VERSION} is not installed at {self.home}; run scripts/setup")
        for sub in ("data", "logs", "tmp"):
            (self.base_dir / sub).mkdir(parents=True, exist_ok=True)
        if not self.config_dir.exists():
            shutil.copytree(self.home / "config", self.config_dir)
        lines = [f"{key}: {json.dumps(value)}" for key, value in self._settings().items()]
        (self.config_dir / "elasticsearch.yml").write_text("\n".join(lines) + "\n")
        options = self.config_dir / "jvm.options.d"
        options.mkdir(exist_ok=True)
        (options / "oam.options").write_text("-Xlog:disable\n-Xlog:all=warning:stderr\n")
        if self.user:
            subprocess.run(["chown", "-R", f"{self.user}:{self.user}", str(self.base_dir)], check=True)
            # Every directory above base_dir must be traversable by the service user.
            for parent in self.base_dir.parents:
                if parent.stat().st_mode & 0o001 == 0:
                    raise ServiceError(f"{parent} is not searchable by {self.user}; choose a data dir under /tmp or /var/lib")
        if self.security:
            self._add_admin_user()

    def _add_admin_user(self) -> None:
        users = self.config_dir / "users"
        if users.exists() and f"{ADMIN_USER}:" in users.read_text():
            return
        cmd = [str(self.home / "bin" / "elasticsearch-users"), "useradd", ADMIN_USER,
               "-p", self.password, "-r", "superuser"]
        result = subprocess.run(cmd, env=self._env(), capture_output=True, text=True, user=self.user,
                                group=self.user, cwd=self.base_dir)
        if result.returncode != 0:
            raise ServiceError(f"could not create the {ADMIN_USER} user: {result.stdout}{result.stderr}".strip())

    # -- life cycle ---------------------------------------------------------------------
    def start(self, timeout: float = 120.0) -> None:
        """Start and wait for yellow or green health; on failure stop it and raise with the log."""
        if port_in_use(self.http_port, self.host):
            raise ServiceError(f"port {self.http_port} on {self.host} is already in use")
        self.prepare()
        self.process.start()
        try:
            self.wait_healthy(timeout)
        except ServiceError:
            self.process.stop(timeout=10)
            raise

    def wait_healthy(self, timeout: float) -> dict[str, Any]:
        def healthy() -> dict[str, Any]:
            health = self.request("GET", "/_cluster/health?wait_for_status=yellow&timeout=1s")
            if health.get("status") not in ("yellow", "green"):
                raise NotReady(f"cluster health {health.get('status')!r}")
            return health

        return self.process.wait_ready(healthy, timeout=timeout, interval=0.5, label="Elasticsearch",
                                       what=f"Elasticsearch on {self.url} to be yellow or green",
                                       log_tail=self.log_tail, retry_on=(OSError, ValueError))

    def stop(self, timeout: float = 30.0) -> None:
        self.process.stop(timeout)

    def running(self) -> bool:
        return self.process.running()

    def log_tail(self, lines: int = 40) -> str:
        server_log = self.logs_dir / f"oam-{self.http_port}.log"
        errors = problems(self.process.log_path)
        parts = (["errors:", *errors] if errors else []) + [f"--- {self.process.log_path} ---",
                                                             self.process.log_tail(lines)]
        if server_log.exists():
            parts += [f"--- {server_log} ---", tail(server_log, lines)]
        return "\n".join(parts)

    # -- HTTP ---------------------------------------------------------------------------
    def request(self, method: str, path: str, body: Any = None, timeout: float = 10.0) -> Any:
        """A small JSON request to this node (health checks need no client library)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if self.auth:
            token = base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read() or b"null")
