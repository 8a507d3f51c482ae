"""Collector settings: defaults, overridden by a TOML file.

Example ``collector.toml``::

    host = "0.0.0.0"
    port = 4318
    workers = "auto"                 # processes sharing the port; "auto": one per core
    tokens_file = "/var/lib/oam/collector/tokens.json"
    spool_dir = "/var/lib/oam/collector/spool"
    spool_max_bytes = 1073741824
    max_body_bytes = 10485760
    index_replicas = 1               # 0 on a single Elasticsearch node

    [elasticsearch]                  # writes documents and installs the index templates
    hosts = ["https://es1:9200", "https://es2:9200"]
    username = "oam-collector"
    password_file = "/etc/oam/es-password"
    ca_file = "/etc/oam/es-ca.pem"

    [retention_elasticsearch]        # optional: the user that deletes expired indices
    hosts = ["https://es1:9200", "https://es2:9200"]
    username = "oam-retention"
    password_file = "/etc/oam/es-retention-password"
    ca_file = "/etc/oam/es-ca.pem"

    [retention_days]
    logs = 14
    metrics = 30

    [limits]                       # per document, at every door (collector/limits.py)
    max_json_depth = 64
    max_document_bytes = 1048576
    max_age_days = 7
    max_ahead_seconds = 3600
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator

from foundation.elasticsearch import ElasticsearchConnection
from foundation.settings import PathStr, PositiveFloat, PositiveInt, SettingsError, SettingsModel, read_toml, validate
from telemetry.ecs import STORED_KINDS

from .limits import InputLimits

DEFAULT_RETENTION_DAYS = {"logs": 14, "transactions": 7, "spans": 7, "metrics": 30, "errors": 90, "changes": 365,
                          "alerts": 365, "deadletter": 30}
PASSWORD_ENV = "OAM_COLLECTOR_ES_PASSWORD"
RetentionKind = Literal[(*STORED_KINDS, "deadletter")]  # type: ignore[valid-type]


def _default_state_dir() -> Path:
    base = os.environ.get("OAM_DATA_DIR")
    if base:
        return Path(base) / "collector"
    return Path("/var/lib/oam/collector") if os.geteuid() == 0 else Path.home() / ".local/share/oam/data/collector"


class CollectorElasticsearch(ElasticsearchConnection):
    """The collector's connection; its password may also come from ``$OAM_COLLECTOR_ES_PASSWORD``."""

    password_env: ClassVar[str] = PASSWORD_ENV


class CollectorConfig(SettingsModel):
    """Everything ``oam collector run`` needs."""

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 4318
    threads: PositiveInt = 8  # per worker process
    workers: Literal["auto"] | PositiveInt = "auto"  # processes on the port (SO_REUSEPORT); auto: one per core
    elasticsearch: CollectorElasticsearch = Field(default_factory=CollectorElasticsearch)
    retention_elasticsearch: ElasticsearchConnection | None = None  # None: retention runs as `elasticsearch`
    tokens_file: PathStr = Field(default_factory=lambda: _default_state_dir() / "tokens.json")
    spool_dir: PathStr = Field(default_factory=lambda: _default_state_dir() / "spool")
    spool_max_bytes: PositiveInt = 1 << 30
    max_body_bytes: PositiveInt = 10 << 20
    max_decompressed_bytes: PositiveInt = 100 << 20
    bulk_chunk_size: PositiveInt = 1000
    item_retries: int = Field(2, ge=0)
    retry_backoff_seconds: float = Field(0.2, ge=0, le=5)  # the first wait; waits grow to 5-10 s at most
    retry_after_seconds: int = Field(5, ge=0)
    retention_days: dict[RetentionKind, PositiveInt] = Field(default_factory=lambda: dict(DEFAULT_RETENTION_DAYS))
    retention_interval_seconds: PositiveFloat = 3600.0
    index_prefix: str = "oam"
    index_replicas: int = Field(0, ge=0)  # replicas of each index its templates make: 1 on a cluster
    limits: InputLimits = Field(default_factory=InputLimits)

    @field_validator("retention_days")
    @classmethod
    def _over_the_defaults(cls, value: dict[str, int]) -> dict[str, int]:
        """A ``[retention_days]`` table changes the kinds it names; the others keep their defaults."""
        return {**DEFAULT_RETENTION_DAYS, **value}


def _merge(base: dict[str, Any], layer: dict[str, Any]) -> dict[str, Any]:
    """``layer`` over ``base``, tables merged key by key."""
    merged = dict(base)
    for key, value in layer.items():
        both = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = _merge(merged[key], value) if both else value
    return merged


def load_config(path: Path | None = None, defaults: dict[str, Any] | None = None,
                cmdb: Any = None, cmdb_key: str = "the CMDB's collector settings", **overrides: Any) -> CollectorConfig:
    """Built-in defaults, then ``defaults`` (e.g. from the suite's settings), then ``cmdb`` (the
    settings document kept in the CMDB at ``cmdb_key``), then the TOML file at ``path`` (if
    given), then keyword overrides (e.g. command-line flags). Each layer is checked on its own,
    so an error names where the bad value is."""
    layers: list[tuple[str, Any]] = [("the suite's settings", defaults or {})]
    if cmdb is not None:
        layers.append((cmdb_key, cmdb))
    if path is not None:
        if not Path(path).exists():
            raise SettingsError(f"config file {path} does not exist")
        layers.append((Path(path).name, read_toml(path)))
    layers.append(("the command line", {key: value for key, value in overrides.items() if value is not None}))
    merged: dict[str, Any] = {}
    for source, layer in layers:
        validate(CollectorConfig, layer, source)
        merged = _merge(merged, layer)
    return validate(CollectorConfig, merged, layers[-1][0])
