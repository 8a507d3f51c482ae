"""The backing servers ``oam up`` runs: Elasticsearch, ZooKeeper and Redis, each probed natively."""
from __future__ import annotations

from backing_services.elasticsearch import ElasticsearchServer
from backing_services.redis import RedisServer, ping
from backing_services.zookeeper import ZooKeeperServer, four_letter_word

from .component import ServerComponent, ServiceStatus
from .config import Settings


class ElasticsearchComponent(ServerComponent):
    name = "elasticsearch"

    def __init__(self, settings: Settings) -> None:
        es = settings.elasticsearch
        self.port = es.port
        self.server = ElasticsearchServer(settings.data_dir / "elasticsearch", http_port=es.port, heap_mb=es.heap_mb,
                                          security=es.security, password=es.password, host=settings.host)

    def probe(self) -> ServiceStatus:
        server = self.server
        try:
            health = server.request("GET", "/_cluster/health", timeout=3)
            nodes = server.request("GET", "/_nodes/_local/info/http", timeout=3)["nodes"]
            version = next(iter(nodes.values()))["version"]
            return ServiceStatus(self.name, server.url, health["status"] in ("green", "yellow"),
                                 f"{health['status']}, version {version}")
        except (OSError, ValueError, KeyError, StopIteration) as exc:
            return ServiceStatus(self.name, server.url, False, f"not answering ({exc})")


class ZooKeeperComponent(ServerComponent):
    name = "zookeeper"

    def __init__(self, settings: Settings) -> None:
        self.port = settings.zookeeper.port
        self.server = ZooKeeperServer(settings.data_dir / "zookeeper", self.port, settings.host)

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
