"""Settings for a local suite: defaults, overridden by a TOML file, overridden by the command line.

The file is the first of ``--config PATH``, ``$OAM_CONFIG``, ``./oam.toml``, ``/etc/oam/oam.toml``
that exists. Example::

    data_dir = "/var/lib/oam"
    host = "127.0.0.1"

    [elasticsearch]
    port = 9200
    heap_mb = 512
    security = true    # false: open HTTP, for a development box only
    nodes = 1          # 3: a cluster (HTTP 9200-9202, transport 9300-9302), one replica per index

    [zookeeper]
    port = 2181

    [cmdb]
    servers = "10.0.0.1:2181,10.0.0.2:2181,10.0.0.3:2181"
    user = "deployer"

    [ports]
    collector = 4318
    collector_2 = 4319
    dashboard = 8080
    alertmanager = 9093
    smtp = 2525

    [sandbox]          # the local SSH hosts for trying the deployer
    hosts = 3
    ssh_port = 2222

    [supervision]      # a piece that exits is restarted (see oam.supervision)
    restart_sec = 1
    max_restart_sec = 30
    start_limit_burst = 5
    start_limit_interval_sec = 120
"""
from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, PrivateAttr

from foundation.settings import PathStr, Port, PositiveFloat, PositiveInt, SettingsError, SettingsModel, load_toml

SEARCH_PATHS = (Path("oam.toml"), Path("/etc/oam/oam.toml"))


def default_data_dir() -> Path:
    if os.environ.get("OAM_DATA_DIR"):
        return Path(os.environ["OAM_DATA_DIR"])
    return Path("/var/lib/oam") if os.geteuid() == 0 else Path.home() / ".local" / "share" / "oam" / "data"


class ElasticsearchSettings(SettingsModel):
    """The suite's own Elasticsearch; ``security = false`` (open HTTP, no users) is for a development box only."""

    port: Port = 9200  # a cluster's nodes listen on port, port + 1, ...
    heap_mb: PositiveInt = 512
    security: bool = True  # TLS on HTTP with the suite's CA, a user per piece, destructive_requires_name
    password: str = Field("", repr=False)  # the superuser's (oam-admin); "": made on the first start and kept
    nodes: PositiveInt = 1  # more than one: a cluster on loopback, indices with one replica
    transport_port: Port = 9300  # a cluster's nodes talk on transport_port, + 1, ... (one node: any free port)

    def http_ports(self) -> list[int]:
        return [self.port + number for number in range(self.nodes)]

    @property
    def replicas(self) -> int:
        """Replicas of each index: 0 on one node, 1 on a cluster."""
        return 0 if self.nodes == 1 else 1


class ZooKeeperSettings(SettingsModel):
    port: Port = 2181


class CmdbSettings(SettingsModel):
    """Defaults of the CMDB client; ``oam cmdb`` options and OAM_CMDB_* variables override them."""

    servers: str = ""  # "" means 127.0.0.1:<zookeeper.port>
    root: str = "/oam/cmdb"
    user: str = ""
    password: str = ""
    history_limit: PositiveInt = 50
    spool: str = ""  # "" means <data_dir>/spool/cmdb-changes.jsonl


class PortSettings(SettingsModel):
    """Ports of the suite's own pieces (each piece reads its own)."""

    collector: Port = 4318  # the first collector: clients' Sentry DSN and `oam trace` point here
    collector_2: Port = 4319  # `oam up`'s second collector (agents spread over both); 0: run one
    dashboard: Port = 8080
    gateway: Port = 8000
    backend: Port = 8001
    redis: Port = 6379
    agent_metrics: Port = 9110
    alertmanager: Port = 9093  # the local Alertmanager the rule evaluator sends to
    smtp: Port = 2525  # the local SMTP server Alertmanager mails to (`oam alerts mail` prints its mailbox)

    def collectors(self) -> list[int]:
        """The ports of the collectors ``oam up`` runs: ``collector`` and, unless 0, ``collector_2``."""
        return [port for port in (self.collector, self.collector_2) if port]


class SandboxSettings(SettingsModel):
    """The local SSH hosts ``oam up`` gives the deployer: 127.0.0.<first_address> and on, one sshd each."""

    hosts: int = Field(3, ge=0)
    first_address: int = Field(2, ge=1, le=254)
    ssh_port: Port = 2222  # the same port on each host's own address
    app_port: Port = 8101  # where the deployed backend listens on each host
    service: str = "order-service"


class SupervisionSettings(SettingsModel):
    """``[supervision]`` in oam.toml: how ``oam up`` restarts a piece that exits."""

    restart_sec: PositiveFloat = 1.0  # the first restart's delay; doubled for each further one
    max_restart_sec: PositiveFloat = 30.0
    start_limit_burst: PositiveInt = 5  # restarts allowed within the interval before the piece is given up
    start_limit_interval_sec: PositiveFloat = 120.0


class Settings(SettingsModel):
    data_dir: PathStr = Field(default_factory=default_data_dir)
    host: str = "127.0.0.1"
    elasticsearch: ElasticsearchSettings = Field(default_factory=ElasticsearchSettings)
    zookeeper: ZooKeeperSettings = Field(default_factory=ZooKeeperSettings)
    ports: PortSettings = Field(default_factory=PortSettings)
    cmdb: CmdbSettings = Field(default_factory=CmdbSettings)
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)
    supervision: SupervisionSettings = Field(default_factory=SupervisionSettings)
    _source: Path | None = PrivateAttr(None)

    @property
    def source(self) -> Path | None:
        """The file the settings were read from (None: defaults only)."""
        return self._source

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "run"


def find_config(explicit: Path | None = None) -> Path | None:
    if explicit is not None:
        if not explicit.exists():
            raise SettingsError(f"config file {explicit} does not exist")
        return explicit
    if os.environ.get("OAM_CONFIG"):
        return find_config(Path(os.environ["OAM_CONFIG"]))
    return next((path for path in SEARCH_PATHS if path.exists()), None)


def load(path: Path | None = None) -> Settings:
    """Defaults, then the config file if there is one."""
    source = find_config(path)
    if source is None:
        return Settings()
    settings = load_toml(Settings, source)
    settings._source = source.resolve()
    return settings
