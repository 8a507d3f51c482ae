"""Settings for a local suite: defaults, overridden by a TOML file, overridden by the command line.

The file is the first of ``--config PATH``, ``$OAM_CONFIG``, ``./oam.toml``, ``/etc/oam/oam.toml``
that exists. Example::

    data_dir = "/var/lib/oam"
    host = "127.0.0.1"

    [elasticsearch]
    port = 9200
    heap_mb = 512
    security = false

    [zookeeper]
    port = 2181

    [cmdb]
    servers = "10.0.0.1:2181,10.0.0.2:2181,10.0.0.3:2181"
    user = "deployer"

    [ports]
    collector = 4318
    collector_2 = 4319
    dashboard = 8080

    [sandbox]          # the local SSH hosts for trying the deployer
    hosts = 3
    ssh_port = 2222
"""
from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backing_services.elasticsearch import DEFAULT_PASSWORD

SEARCH_PATHS = (Path("oam.toml"), Path("/etc/oam/oam.toml"))


class ConfigError(ValueError):
    """The configuration is unreadable or names an unknown key or a value of the wrong type."""


def default_data_dir() -> Path:
    if os.environ.get("OAM_DATA_DIR"):
        return Path(os.environ["OAM_DATA_DIR"])
    return Path("/var/lib/oam") if os.geteuid() == 0 else Path.home() / ".local" / "share" / "oam" / "data"


@dataclass
class ElasticsearchSettings:
    port: int = 9200
    heap_mb: int = 512
    security: bool = False
    password: str = DEFAULT_PASSWORD


@dataclass
class ZooKeeperSettings:
    port: int = 2181


@dataclass
class CmdbSettings:
    """Defaults of the CMDB client; ``oam cmdb`` options and OAM_CMDB_* variables override them."""

    servers: str = ""  # "" means 127.0.0.1:<zookeeper.port>
    root: str = "/oam/cmdb"
    user: str = ""
    password: str = ""
    history_limit: int = 50
    spool: str = ""  # "" means <data_dir>/spool/cmdb-changes.jsonl


@dataclass
class PortSettings:
    """Ports of the suite's own pieces (each piece reads its own)."""

    collector: int = 4318  # the first collector: clients' Sentry DSN and `oam trace` point here
    collector_2: int = 4319  # `oam up`'s second collector (agents spread over both); 0: run one
    dashboard: int = 8080
    gateway: int = 8000
    backend: int = 8001
    redis: int = 6379
    agent_metrics: int = 9110

    def collectors(self) -> list[int]:
        """The ports of the collectors ``oam up`` runs: ``collector`` and, unless 0, ``collector_2``."""
        return [port for port in (self.collector, self.collector_2) if port]


@dataclass
class SandboxSettings:
    """The local SSH hosts ``oam up`` gives the deployer: 127.0.0.<first_address> and on, one sshd each."""

    hosts: int = 3
    first_address: int = 2
    ssh_port: int = 2222  # the same port on each host's own address
    app_port: int = 8101  # where the deployed backend listens on each host
    service: str = "order-service"


@dataclass
class Settings:
    data_dir: Path = field(default_factory=default_data_dir)
    host: str = "127.0.0.1"
    elasticsearch: ElasticsearchSettings = field(default_factory=ElasticsearchSettings)
    zookeeper: ZooKeeperSettings = field(default_factory=ZooKeeperSettings)
    ports: PortSettings = field(default_factory=PortSettings)
    cmdb: CmdbSettings = field(default_factory=CmdbSettings)
    sandbox: SandboxSettings = field(default_factory=SandboxSettings)
    source: Path | None = None

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "run"


def apply_settings(target: Any, values: dict[str, Any], error: type[Exception] = ConfigError, where: str = "",
                   skip: tuple[str, ...] = ()) -> None:
    """Set a settings dataclass from a parsed TOML table, naming any unknown key or wrong type.

    Nested dataclasses take sub-tables, ``Path`` fields take strings, ``dict`` fields merge a
    table over their defaults, ``float`` fields take integers too. Shared by every piece's settings.
    """
    known = {f.name for f in dataclasses.fields(target) if f.name not in skip}
    for key, value in values.items():
        name = f"{where}{key}"
        if key not in known:
            raise error(f"unknown setting {name!r} (known: {', '.join(sorted(known))})")
        current = getattr(target, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise error(f"setting {name!r} must be a table")
            apply_settings(current, value, error, f"{name}.")
        elif isinstance(current, Path):
            if not isinstance(value, (str, Path)):
                raise error(f"setting {name!r} must be a path string")
            setattr(target, key, Path(value))
        elif isinstance(current, dict):
            if not isinstance(value, dict):
                raise error(f"setting {name!r} must be a table")
            setattr(target, key, {**current, **value})
        elif isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
            setattr(target, key, float(value))
        elif type(value) is not type(current):
            raise error(f"setting {name!r} must be {type(current).__name__}, not {type(value).__name__}")
        else:
            setattr(target, key, value)


def find_config(explicit: Path | None = None) -> Path | None:
    if explicit is not None:
        if not explicit.exists():
            raise ConfigError(f"config file {explicit} does not exist")
        return explicit
    if os.environ.get("OAM_CONFIG"):
        return find_config(Path(os.environ["OAM_CONFIG"]))
    return next((path for path in SEARCH_PATHS if path.exists()), None)


def load(path: Path | None = None) -> Settings:
    """Defaults, then the config file if there is one."""
    settings = Settings()
    source = find_config(path)
    if source is not None:
        try:
            values = tomllib.loads(source.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read {source}: {exc}") from exc
        apply_settings(settings, values, skip=("source",))
        settings.source = source.resolve()
    return settings
