"""Collector settings: defaults, overridden by a TOML file.

Example ``collector.toml``::

    host = "0.0.0.0"
    port = 4318
    tokens_file = "/var/lib/oam/collector/tokens.json"
    spool_dir = "/var/lib/oam/collector/spool"
    spool_max_bytes = 1073741824
    max_body_bytes = 10485760

    [elasticsearch]
    hosts = ["https://es1:9200", "https://es2:9200"]
    username = "oam-collector"
    password_file = "/etc/oam/es-password"
    ca_file = "/etc/oam/es-ca.pem"

    [retention_days]
    logs = 14
    metrics = 30
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oam.config import apply_settings
from telemetry.ecs import KINDS

DEFAULT_RETENTION_DAYS = {"logs": 14, "transactions": 7, "spans": 7, "metrics": 30, "errors": 90, "changes": 365,
                          "deadletter": 30}
PASSWORD_ENV = "OAM_COLLECTOR_ES_PASSWORD"


class CollectorConfigError(ValueError):
    """The collector's configuration is unreadable or holds an unknown key or a bad value."""


def _default_state_dir() -> Path:
    base = os.environ.get("OAM_DATA_DIR")
    if base:
        return Path(base) / "collector"
    return Path("/var/lib/oam/collector") if os.geteuid() == 0 else Path.home() / ".local/share/oam/data/collector"


@dataclass
class ElasticsearchConnection:
    """How to reach Elasticsearch: hosts, and basic auth or an API key, and a CA file for TLS."""

    hosts: list[str] = field(default_factory=lambda: ["http://127.0.0.1:9200"])
    username: str = ""
    password: str = ""
    password_file: str = ""
    api_key: str = ""
    ca_file: str = ""
    request_timeout: float = 30.0

    def resolved_password(self) -> str:
        if self.password:
            return self.password
        if self.password_file:
            try:
                return Path(self.password_file).read_text().strip()
            except OSError as exc:
                raise CollectorConfigError(f"cannot read elasticsearch.password_file: {exc}") from exc
        return os.environ.get(PASSWORD_ENV, "")

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for ``elasticsearch.Elasticsearch``."""
        options: dict[str, Any] = {"hosts": list(self.hosts), "request_timeout": self.request_timeout,
                                   "max_retries": 0, "retry_on_timeout": False}
        if self.api_key:
            options["api_key"] = self.api_key
        elif self.username:
            options["basic_auth"] = (self.username, self.resolved_password())
        if self.ca_file:
            options["ca_certs"] = self.ca_file
        return options

    def describe(self) -> str:
        who = "API key" if self.api_key else (f"user {self.username!r}" if self.username else "no credentials")
        return f"{', '.join(self.hosts)} ({who})"


@dataclass
class CollectorConfig:
    """Everything ``oam collector run`` needs."""

    host: str = "127.0.0.1"
    port: int = 4318
    threads: int = 8
    elasticsearch: ElasticsearchConnection = field(default_factory=ElasticsearchConnection)
    tokens_file: Path = field(default_factory=lambda: _default_state_dir() / "tokens.json")
    spool_dir: Path = field(default_factory=lambda: _default_state_dir() / "spool")
    spool_max_bytes: int = 1 << 30
    max_body_bytes: int = 10 << 20
    max_decompressed_bytes: int = 100 << 20
    bulk_chunk_size: int = 1000
    item_retries: int = 2
    retry_backoff_seconds: float = 0.2
    retry_after_seconds: int = 5
    retention_days: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_RETENTION_DAYS))
    retention_interval_seconds: float = 3600.0
    index_prefix: str = "oam"

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        unknown = set(self.retention_days) - set(KINDS) - {"deadletter"}
        if unknown:
            raise CollectorConfigError(f"retention_days names unknown kinds: {', '.join(sorted(unknown))}")
        for name in ("port", "threads", "spool_max_bytes", "max_body_bytes", "max_decompressed_bytes",
                     "bulk_chunk_size"):
            if getattr(self, name) <= 0:
                raise CollectorConfigError(f"{name} must be positive")
        if any(days <= 0 for days in self.retention_days.values()):
            raise CollectorConfigError("retention_days values must be positive")


def _apply(target: CollectorConfig, values: dict[str, Any]) -> None:
    apply_settings(target, values, CollectorConfigError)


def load_config(path: Path | None = None, defaults: dict[str, Any] | None = None,
                cmdb: dict[str, Any] | None = None, **overrides: Any) -> CollectorConfig:
    """Built-in defaults, then ``defaults`` (e.g. from the suite's settings), then ``cmdb`` (the
    settings document kept in the CMDB), then the TOML file at ``path`` (if given), then keyword
    overrides (e.g. command-line flags)."""
    config = CollectorConfig()
    _apply(config, defaults or {})
    if cmdb is not None:
        if not isinstance(cmdb, dict):
            raise CollectorConfigError("the collector settings in the CMDB must be a JSON object")
        _apply(config, cmdb)
    if path is not None:
        try:
            values = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise CollectorConfigError(f"config file {path} does not exist") from None
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise CollectorConfigError(f"cannot read {path}: {exc}") from exc
        _apply(config, values)
    _apply(config, {key: value for key, value in overrides.items() if value is not None})
    config.validate()
    return config
