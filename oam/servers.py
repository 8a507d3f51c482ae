"""The backing servers ``oam up`` runs: Elasticsearch, ZooKeeper and Redis, each probed natively."""
from __future__ import annotations

from backing_services.elasticsearch import ElasticsearchCluster, ElasticsearchServer
from backing_services.process import reap_stale
from backing_services.redis import RedisServer, ping
from backing_services.zookeeper import ZooKeeperServer, four_letter_word
from foundation.suite import ELASTICSEARCH_USERS, elasticsearch_ca_dir
from telemetry.access import ALERTS, COLLECTOR, READER, RETENTION, roles
from telemetry.templates import index_pattern

from .cmdb_accounts import provision
from .component import ServerComponent, ServiceStatus
from .config import Settings
from .suite_secrets import elasticsearch_admin_password, elasticsearch_passwords

ROLES = {"collector": COLLECTOR, "dashboard": READER, "retention": RETENTION, "alerts": ALERTS}
"""The role of each piece's Elasticsearch user (foundation.suite.ELASTICSEARCH_USERS)."""


class ElasticsearchComponent(ServerComponent):
    """The suite's Elasticsearch with each piece's user and role (written again on every start).

    ``[elasticsearch] nodes`` above 1 makes it a cluster on loopback; a restart then starts only
    the nodes that are down."""

    name = "elasticsearch"
    server: ElasticsearchServer | ElasticsearchCluster  # type: ignore[assignment]

    def __init__(self, settings: Settings) -> None:
        es = settings.elasticsearch
        self.settings = settings
        self.port = es.port
        common = {"heap_mb": es.heap_mb, "security": es.security, "host": settings.host,
                  "password": elasticsearch_admin_password(settings, False),
                  "ca_dir": elasticsearch_ca_dir(settings.data_dir)}
        if es.nodes == 1:
            self.server = ElasticsearchServer(settings.data_dir / "elasticsearch", http_port=es.port, **common)
        else:
            self.server = ElasticsearchCluster(
                settings.data_dir / "elasticsearch", es.nodes, http_ports=es.http_ports(),
                transport_ports=[es.transport_port + number for number in range(es.nodes)], **common)

    def reap(self) -> bool:
        nodes = self.server.nodes if isinstance(self.server, ElasticsearchCluster) else [self.server]
        return any([reap_stale(node.process.pid_file) for node in nodes])

    def start(self, timeout: float) -> None:
        if self.server.security:
            passwords = elasticsearch_passwords(self.settings)
            self.server.password = elasticsearch_admin_password(self.settings)
            self.server.users = {ELASTICSEARCH_USERS[piece]: (passwords[piece], role) for piece, role in ROLES.items()}
            self.server.roles = roles([index_pattern()])
        super().start(timeout)

    def probe(self) -> ServiceStatus:
        server = self.server
        try:
            health = server.request("GET", "/_cluster/health", timeout=3)
            nodes = server.request("GET", "/_nodes/_local/info/http", timeout=3)["nodes"]
            version = next(iter(nodes.values()))["version"]
            members = f", {health['number_of_nodes']} nodes" if isinstance(server, ElasticsearchCluster) else ""
            return ServiceStatus(self.name, server.url, health["status"] in ("green", "yellow"),
                                 f"{health['status']}{members}, version {version}")
        except (OSError, ValueError, KeyError, StopIteration) as exc:
            return ServiceStatus(self.name, server.url, False, f"not answering ({exc})")


class ZooKeeperComponent(ServerComponent):
    name = "zookeeper"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port = settings.zookeeper.port
        self.server = ZooKeeperServer(settings.data_dir / "zookeeper", self.port, settings.host)

    def start(self, timeout: float) -> None:
        """Start it closed (see backing_services.zookeeper), then make the CMDB's accounts."""
        super().start(timeout)
        provision(self.settings, self.server)

    def probe(self) -> ServiceStatus:
        answer = four_letter_word(self.port, "ruok", self.server.host)
        return ServiceStatus(self.name, self.server.connection_string, answer == "imok",
                             f"ruok -> {answer}" if answer else "not answering")


class RedisComponent(ServerComponent):
    name = "redis"

    def __init__(self, settings: Settings) -> None:
        self.port = settings.ports.redis
        self.server = RedisServer(settings.data_dir / "redis", self.port, settings.host)

    def probe(self) -> ServiceStatus:
        healthy = ping(self.port, self.server.host)
        return ServiceStatus(self.name, self.server.url, healthy, "PING -> PONG" if healthy else "not answering")
