"""The host agent's settings, from a TOML file (the CMDB takes over once it holds them).

    [agent]
    id = "web-1"                       # default: the host name
    data_dir = "/var/lib/oam/agent"    # checkpoints and the metrics buffer
    interval = 10                      # seconds between system metrics and scrapes
    metrics_port = 9110                # the agent's own /metrics (0 = off)

    [collector]
    urls = ["http://127.0.0.1:4318"]   # several: failover in order
    token_file = "/etc/oam/agent.token"

    [logs]
    paths = ["/var/log/app/*.log", "/var/lib/app/telemetry/*.jsonl"]
    multiline_start = '^\\S'           # plain-text lines not matching it join the line before

    [[scrape]]
    url = "http://127.0.0.1:8001/metrics"

    [cmdb]                             # optional: register as a live host
    hosts = "10.0.0.7:2181,10.0.0.8:2181,10.0.0.9:2181"
    user = "agent"
    password_file = "/etc/oam/cmdb.password"
"""
from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from foundation.settings import (
    Expected,
    PathStr,
    Port,
    PositiveFloat,
    PositiveInt,
    Regex,
    SettingsError,
    SettingsModel,
    Url,
    invalid,
    load_toml,
)


def _not_empty(urls: list[str]) -> list[str]:
    if not urls:
        raise invalid("a non-empty list of URLs")
    return urls


Urls = Annotated[list[Url], AfterValidator(_not_empty), Expected("a non-empty list of URLs")]


class AgentConfig(SettingsModel):
    """What the running agent uses: the file's sections flattened, secrets read."""

    agent_id: str = Field(default_factory=socket.gethostname)
    data_dir: PathStr = Path("/var/lib/oam/agent")
    interval: PositiveFloat = 10.0
    metrics_port: Port = 9110
    collector_urls: Urls = Field(default_factory=lambda: ["http://127.0.0.1:4318"])
    token: str = ""
    log_paths: list[str] = Field(default_factory=list)
    multiline_start: Regex | None = None
    scrape_urls: list[Url] = Field(default_factory=list)
    batch_max_lines: PositiveInt = 20000
    batch_max_bytes: PositiveInt = 8 << 20
    flush_seconds: PositiveFloat = 1.0
    buffer_max_bytes: PositiveInt = 64 << 20
    environment: str = "production"
    role: str = ""
    cmdb_hosts: str = ""             # ZooKeeper connection string; empty: no CMDB registration
    cmdb_user: str = ""
    cmdb_password: str = ""
    cmdb_root: str = ""


# -- agent.toml, section by section ---------------------------------------------------------------
_defaults = AgentConfig.model_fields


class AgentSection(SettingsModel):
    id: str = Field(default_factory=socket.gethostname)
    data_dir: PathStr = _defaults["data_dir"].default
    interval: PositiveFloat = _defaults["interval"].default
    metrics_port: Port = _defaults["metrics_port"].default
    environment: str = _defaults["environment"].default
    role: str = ""
    batch_max_lines: PositiveInt = _defaults["batch_max_lines"].default
    batch_max_bytes: PositiveInt = _defaults["batch_max_bytes"].default
    flush_seconds: PositiveFloat = _defaults["flush_seconds"].default
    buffer_max_bytes: PositiveInt = _defaults["buffer_max_bytes"].default


class CollectorSection(SettingsModel):
    urls: Urls = Field(default_factory=lambda: ["http://127.0.0.1:4318"])
    token: str = ""
    token_file: str = ""


class LogsSection(SettingsModel):
    paths: list[str] = Field(default_factory=list)
    multiline_start: Regex | None = None


class ScrapeEntry(SettingsModel):
    url: Url


class CmdbSection(SettingsModel):
    hosts: str = ""
    user: str = ""
    password: str = ""
    password_file: str = ""
    root: str = ""


class AgentFile(SettingsModel):
    agent: AgentSection = Field(default_factory=AgentSection)
    collector: CollectorSection = Field(default_factory=CollectorSection)
    logs: LogsSection = Field(default_factory=LogsSection)
    scrape: list[ScrapeEntry] = Field(default_factory=list)
    cmdb: CmdbSection = Field(default_factory=CmdbSection)

    @model_validator(mode="after")
    def _has_a_token(self) -> AgentFile:
        if not (self.collector.token or self.collector.token_file):
            raise invalid("a token (or a token_file)", "collector", "token")
        return self


def _read_secret(path: str, where: str) -> str:
    """The stripped contents of a secret file, or a settings error naming it."""
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise SettingsError(f"{where}: cannot read {path}: {exc.strerror or exc}") from None


def load_agent_config(path: Path) -> AgentConfig:
    """The agent's settings from its TOML file; :class:`SettingsError` names a bad one in one line."""
    name = Path(path).name
    file = load_toml(AgentFile, path)
    agent, collector, logs, cmdb = file.agent, file.collector, file.logs, file.cmdb
    token = _read_secret(collector.token_file, f"{name}: [collector] token_file") if collector.token_file \
        else collector.token
    password = _read_secret(cmdb.password_file, f"{name}: [cmdb] password_file") if cmdb.password_file \
        else cmdb.password
    return AgentConfig(
        agent_id=agent.id, data_dir=agent.data_dir, interval=agent.interval, metrics_port=agent.metrics_port,
        collector_urls=collector.urls, token=token, log_paths=logs.paths, multiline_start=logs.multiline_start,
        scrape_urls=[entry.url for entry in file.scrape], batch_max_lines=agent.batch_max_lines,
        batch_max_bytes=agent.batch_max_bytes, flush_seconds=agent.flush_seconds,
        buffer_max_bytes=agent.buffer_max_bytes, environment=agent.environment, role=agent.role,
        cmdb_hosts=cmdb.hosts, cmdb_user=cmdb.user, cmdb_password=password, cmdb_root=cmdb.root)
