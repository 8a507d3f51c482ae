"""A local single-node Elasticsearch: configure, start as an unprivileged user, wait, stop.

Usage::

    es = ElasticsearchServer(base_dir=Path("/tmp/es1"), http_port=9200, password="s3cret")
    es.start()            # waits for yellow health, raises ServiceError with the log tail
    print(es.url)         # https://127.0.0.1:9200
    client = connect(es.connection())   # the superuser, verifying the node against es.ca_file
    es.stop()

Secured by default (``security=True``): X-Pack security on, TLS on the HTTP layer with a node
certificate signed by the CA in ``ca_dir`` (both made on the first start with ``cryptography``,
mode 600, and reused; the CA's key stays readable by the starting user only), basic auth for
everything, a superuser :data:`ADMIN_USER` with ``es.password`` and the ``users`` and ``roles``
given, all in the file realm (rewritten on each start). A single node
(``discovery.type: single-node``) binds its transport port to loopback and talks to no other
node, so its transport TLS stays off; the nodes of an :class:`ElasticsearchCluster` (each with its
own transport port, ``discovery.seed_hosts`` and ``cluster.initial_master_nodes``) talk to each
other over TLS, each with its own certificate from the same CA. ``action.destructive_requires_name`` is on with or without security:
``DELETE /_all`` and ``DELETE /oam-*`` are refused (delete indices by name,
:func:`foundation.elasticsearch.delete_indices`). ``security=False`` is plain, open HTTP.
"""
from __future__ import annotations

import base64
import json
import os
import pwd
import shutil
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import bcrypt
import yaml

from foundation.elasticsearch import ElasticsearchConnection
from foundation.suite import ELASTICSEARCH_ADMIN_USER
from foundation.waiting import NotReady, wait_until

from .distribution import ES_USER, ES_VERSION, es_home
from .java import java_home
from .ports import LOOPBACK, free_port, free_ports, port_in_use
from .process import ManagedProcess, ServiceError, problems, tail
from .tls import CertificateAuthority, write_private

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
        security: bool = True,
        password: str = DEFAULT_PASSWORD,
        host: str = LOOPBACK,
        home: Path | None = None,
        die_with_parent: bool = True,
        ca_dir: Path | None = None,
        users: dict[str, tuple[str, str]] | None = None,
        roles: dict[str, dict[str, Any]] | None = None,
        cluster_name: str | None = None,
        node_name: str | None = None,
        seed_hosts: list[str] | None = None,
        initial_master_nodes: list[str] | None = None,
    ) -> None:
        """``ca_dir`` (default ``<base_dir>-ca`` beside it) holds the CA; outside ``base_dir``, which
        is handed to the service user, so the node can read its own key but never the CA's.
        ``users`` (name -> (password, role)) and ``roles`` (name -> body of a role, as
        :func:`telemetry.access.roles` gives them) join the superuser in the file realm.
        ``seed_hosts`` (``host:transport_port`` of every node) makes it a node of a cluster
        (see :class:`ElasticsearchCluster`) instead of a single node."""
        self.base_dir = Path(base_dir).resolve()
        self.http_port = http_port
        self.transport_port = transport_port
        self.heap_mb = heap_mb
        self.security = security
        self.password = password
        self.users = dict(users or {})
        self.roles = dict(roles or {})
        self.host = host
        self.cluster_name = cluster_name or f"oam-{http_port}"
        self.node_name = node_name or f"oam-node-{http_port}"
        self.seed_hosts = list(seed_hosts or [])
        self.initial_master_nodes = list(initial_master_nodes or [])
        self.home = home or es_home()
        self.ca = CertificateAuthority(Path(ca_dir) if ca_dir else self.base_dir.with_name(self.base_dir.name + "-ca"))
        self.user = _run_as_user()
        self.process = ManagedProcess(
            "elasticsearch" if node_name is None else f"elasticsearch {node_name}",
            [str(self.home / "bin" / "elasticsearch")],
            cwd=self.logs_dir,
            log_path=self.logs_dir / "console.log",
            pid_file=self.base_dir / "elasticsearch.pid",
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
        return f"{'https' if self.security else 'http'}://{self.host}:{self.http_port}"

    @property
    def auth(self) -> tuple[str, str] | None:
        return (ADMIN_USER, self.password) if self.security else None

    @property
    def ca_file(self) -> Path | None:
        """The CA certificate clients verify this node against (None without security)."""
        return self.ca.cert_path if self.security else None

    def connection(self, username: str = ADMIN_USER, password: str | None = None,
                   **settings: object) -> ElasticsearchConnection:
        """How to reach this node as ``username`` (the superuser by default) over its TLS, with its CA."""
        if not self.security:
            return ElasticsearchConnection(hosts=[self.url], **settings)
        return ElasticsearchConnection(hosts=[self.url], username=username, ca_file=str(self.ca.cert_path),
                                       password=self.password if password is None else password, **settings)

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

    def _discovery(self) -> dict[str, Any]:
        if not self.seed_hosts:
            return {"discovery.type": "single-node",
                    # One node, transport on loopback only: no peer to encrypt for.
                    "xpack.security.transport.ssl.enabled": False}
        return {"discovery.seed_hosts": self.seed_hosts, "cluster.initial_master_nodes": self.initial_master_nodes,
                # A node lost is noticed within seconds, not the default minute of retries.
                "cluster.fault_detection.follower_check.interval": "500ms",
                "cluster.fault_detection.follower_check.retry_count": 3,
                "cluster.fault_detection.leader_check.interval": "500ms",
                "cluster.fault_detection.leader_check.retry_count": 3,
                "xpack.security.transport.ssl.enabled": self.security,
                **({"xpack.security.transport.ssl.verification_mode": "full",
                    "xpack.security.transport.ssl.certificate": "certs/node.crt",
                    "xpack.security.transport.ssl.key": "certs/node.key",
                    "xpack.security.transport.ssl.certificate_authorities": ["certs/ca.crt"]}
                   if self.security else {})}

    def _settings(self) -> dict[str, Any]:
        return {
            "cluster.name": self.cluster_name,
            "node.name": self.node_name,
            "path.data": str(self.base_dir / "data"),
            "path.logs": str(self.logs_dir),
            "network.host": self.host,
            "http.port": self.http_port,
            "transport.port": self.transport_port or free_port(self.host),
            **self._discovery(),
            # A shared development disk must not flip indices to read-only.
            "cluster.routing.allocation.disk.threshold_enabled": False,
            "xpack.security.enabled": self.security,
            "xpack.security.http.ssl.enabled": self.security,
            **({"xpack.security.http.ssl.certificate": "certs/node.crt",
                "xpack.security.http.ssl.key": "certs/node.key"} if self.security else {}),
            "action.destructive_requires_name": True,
        }

    def prepare(self) -> None:
        """Write this node's configuration (fresh each start) and hand the directory to its user."""
        if not (self.home / "bin" / "elasticsearch").exists():
            raise ServiceError(f"Elasticsearch {ES_VERSION} is not installed at {self.home}; run scripts/setup")
        for sub in ("data", "logs", "tmp"):
            (self.base_dir / sub).mkdir(parents=True, exist_ok=True)
        if not self.config_dir.exists():
            shutil.copytree(self.home / "config", self.config_dir)
        if self.security:
            certs = self.config_dir / "certs"
            self.ca.ensure_server_certificate(certs / "node.crt", certs / "node.key",
                                              hosts=list(dict.fromkeys([self.host, LOOPBACK, "localhost"])),
                                              client_auth=bool(self.seed_hosts))
            if self.seed_hosts:  # the nodes verify each other against the CA (its certificate, never its key)
                shutil.copyfile(self.ca.cert_path, certs / "ca.crt")
            self._write_file_realm()
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

    def _write_file_realm(self) -> None:
        """The users (bcrypt hashes), their roles and the role definitions, rewritten on every start.

        The native realm (``PUT /_security/user``) needs the ``.security`` index, whose mapping
        uses the ``analysis-common`` module the integ-test-zip distribution lacks, so users and
        roles live in the file realm; Elasticsearch also reloads these files while it runs.
        """
        users = {ADMIN_USER: (self.password, "superuser"), **self.users}
        hashes = [f"{name}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(10, b'2a')).decode()}"
                  for name, (password, _) in users.items()]
        by_role: dict[str, list[str]] = {}
        for name, (_, role) in users.items():
            by_role.setdefault(role, []).append(name)
        write_private(self.config_dir / "users", "\n".join(hashes) + "\n")
        write_private(self.config_dir / "users_roles",
                       "".join(f"{role}:{','.join(names)}\n" for role, names in by_role.items()))
        write_private(self.config_dir / "roles.yml", yaml.safe_dump(self.roles, sort_keys=True) if self.roles else "")

    # -- life cycle ---------------------------------------------------------------------
    def launch(self) -> None:
        """Configure and start the process without waiting for it (a cluster's nodes start together)."""
        if port_in_use(self.http_port, self.host):
            raise ServiceError(f"port {self.http_port} on {self.host} is already in use")
        self.prepare()
        self.process.start()

    def start(self, timeout: float = 120.0) -> None:
        """Start and wait for yellow or green health; on failure stop it and raise with the log."""
        self.launch()
        try:
            self.wait_healthy(timeout)
        except ServiceError:
            self.process.stop(timeout=10)
            raise

    def wait_healthy(self, timeout: float) -> dict[str, Any]:
        def healthy() -> dict[str, Any]:
            try:
                health = self.request("GET", "/_cluster/health?wait_for_status=yellow&timeout=1s")
            except urllib.error.HTTPError as exc:
                if exc.code != 401:
                    raise
                raise ServiceError(f"Elasticsearch on {self.url} refused the {ADMIN_USER} password (401); "
                                   f"see {self.config_dir / 'users'}") from None
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
        server_log = self.logs_dir / f"{self.cluster_name}.log"
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
        context = ssl.create_default_context(cafile=str(self.ca.cert_path)) if self.security else None
        with urllib.request.urlopen(req, timeout=timeout, context=context) as resp:
            return json.loads(resp.read() or b"null")


class ElasticsearchCluster:
    """``size`` nodes on loopback forming one cluster: every node master-eligible and a data node.

    Usage::

        cluster = ElasticsearchCluster(Path("/tmp/es-cluster"), size=3, heap_mb=320)
        cluster.start()                 # all nodes, then waits until every one has joined
        client = connect(cluster.connection())   # hosts: every node's URL
        cluster.nodes[1].stop(); cluster.start()  # start() starts only the nodes that are down

    Each node has its own directory (``<base_dir>/node-N``), HTTP and transport ports, and its own
    certificate from the one CA in ``ca_dir``; users and roles are the same on every node.
    """

    def __init__(self, base_dir: Path, size: int = 3, *, http_ports: list[int] | None = None,
                 transport_ports: list[int] | None = None, heap_mb: int = 320, security: bool = True,
                 password: str = DEFAULT_PASSWORD, host: str = LOOPBACK, ca_dir: Path | None = None,
                 die_with_parent: bool = True, cluster_name: str | None = None) -> None:
        if size < 1:
            raise ValueError("a cluster needs at least one node")
        self.base_dir = Path(base_dir).resolve()
        http_ports = http_ports or free_ports(size, host)
        transport_ports = transport_ports or free_ports(size, host)
        if len(http_ports) != size or len(transport_ports) != size:
            raise ValueError(f"a cluster of {size} nodes needs {size} HTTP and {size} transport ports")
        names = [f"oam-node-{number}" for number in range(1, size + 1)]
        seeds = [f"{host}:{port}" for port in transport_ports]
        ca_dir = Path(ca_dir) if ca_dir else self.base_dir.with_name(self.base_dir.name + "-ca")
        self.nodes = [ElasticsearchServer(self.base_dir / f"node-{number}", http_port=http, transport_port=transport,
                                          heap_mb=heap_mb, security=security, password=password, host=host,
                                          ca_dir=ca_dir, die_with_parent=die_with_parent,
                                          cluster_name=cluster_name or f"oam-cluster-{http_ports[0]}",
                                          node_name=name, seed_hosts=seeds, initial_master_nodes=names)
                      for number, (http, transport, name) in enumerate(zip(http_ports, transport_ports, names), 1)]

    # -- what the nodes share -----------------------------------------------------------
    @property
    def security(self) -> bool:
        return self.nodes[0].security

    @property
    def password(self) -> str:
        return self.nodes[0].password

    @password.setter
    def password(self, value: str) -> None:
        for node in self.nodes:
            node.password = value

    @property
    def users(self) -> dict[str, tuple[str, str]]:
        return self.nodes[0].users

    @users.setter
    def users(self, value: dict[str, tuple[str, str]]) -> None:
        for node in self.nodes:
            node.users = dict(value)

    @property
    def roles(self) -> dict[str, dict[str, Any]]:
        return self.nodes[0].roles

    @roles.setter
    def roles(self, value: dict[str, dict[str, Any]]) -> None:
        for node in self.nodes:
            node.roles = dict(value)

    @property
    def ca_file(self) -> Path | None:
        return self.nodes[0].ca_file

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def url(self) -> str:
        return self.nodes[0].url

    @property
    def host(self) -> str:
        return self.nodes[0].host

    @property
    def process(self) -> ManagedProcess:
        """The process of the first node that is down (else the first node's): what a supervisor reports."""
        return next((node.process for node in self.nodes if not node.running()), self.nodes[0].process)

    def connection(self, username: str = ADMIN_USER, password: str | None = None,
                   **settings: object) -> ElasticsearchConnection:
        """How to reach the cluster (every node's URL) as ``username``, the superuser by default."""
        connection = self.nodes[0].connection(username, password, **settings)
        return connection.model_copy(update={"hosts": self.urls})

    # -- life cycle ---------------------------------------------------------------------
    def start(self, timeout: float = 180.0) -> None:
        """Start every node that is not running, together, then wait until all have joined."""
        down = [node for node in self.nodes if not node.running()]
        try:
            for node in down:
                node.launch()
            for node in down:
                node.wait_healthy(timeout)
            self.wait_joined(timeout)
        except ServiceError:
            for node in down:
                node.stop(timeout=10)
            raise

    def wait_joined(self, timeout: float) -> dict[str, Any]:
        """Until the cluster has all its nodes (and is yellow or green)."""
        size = len(self.nodes)

        def joined() -> dict[str, Any]:
            health = self.request("GET", f"/_cluster/health?wait_for_nodes={size}&wait_for_status=yellow&timeout=1s")
            if health.get("number_of_nodes") != size or health.get("timed_out"):
                raise NotReady(f"{health.get('number_of_nodes')} of {size} nodes, {health.get('status')}")
            return health

        return wait_until(joined, timeout=timeout, interval=0.5, what=f"all {size} Elasticsearch nodes to join",
                          retry_on=(OSError, ValueError))

    def stop(self, timeout: float = 30.0) -> None:
        for node in reversed(self.nodes):
            node.stop(timeout)

    def running(self) -> bool:
        """True while every node runs (a supervisor restarts the cluster's missing nodes)."""
        return all(node.running() for node in self.nodes)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(f"=== {node.node_name} ===\n{node.log_tail(lines)}" for node in self.nodes)

    # -- HTTP ---------------------------------------------------------------------------
    def request(self, method: str, path: str, body: Any = None, timeout: float = 10.0) -> Any:
        """A small JSON request to the first node that answers."""
        error: Exception | None = None
        for node in self.nodes:
            if not node.running() and node.process.pid is not None:
                continue
            try:
                return node.request(method, path, body, timeout)
            except urllib.error.HTTPError:
                raise
            except OSError as exc:
                error = exc
        raise error or OSError("no Elasticsearch node is running")

    def elected_master(self) -> ElasticsearchServer:
        """The node the cluster has elected master now."""
        name = self.request("GET", "/_cat/master?format=json")[0]["node"]
        return next(node for node in self.nodes if node.node_name == name)
