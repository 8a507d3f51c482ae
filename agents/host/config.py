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
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class AgentConfigError(ValueError):
    """The agent's configuration is unreadable or wrong; the message names the setting."""


@dataclass
class AgentConfig:
    agent_id: str = field(default_factory=socket.gethostname)
    data_dir: Path = Path("/var/lib/oam/agent")
    interval: float = 10.0
    metrics_port: int = 9110
    collector_urls: list[str] = field(default_factory=lambda: ["http://127.0.0.1:4318"])
    token: str = ""
    log_paths: list[str] = field(default_factory=list)
    multiline_start: str | None = None
    scrape_urls: list[str] = field(default_factory=list)
    batch_max_lines: int = 20000
    batch_max_bytes: int = 8 << 20
    flush_seconds: float = 1.0
    buffer_max_bytes: int = 64 << 20
    environment: str = "production"
    role: str = ""
    cmdb_hosts: str = ""             # ZooKeeper connection string; empty: no CMDB registration
    cmdb_user: str = ""
    cmdb_password: str = ""
    cmdb_root: str = ""


def _read_secret(path: str, what: str) -> str:
    """The stripped contents of a secret file, or a config error naming it."""
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise AgentConfigError(f"cannot read {what} {path}: {exc}") from exc


def _take(table: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = table.pop(key)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise AgentConfigError(f"{where}.{key} has the wrong type ({type(value).__name__})")
    return value


def load_agent_config(path: Path) -> AgentConfig:
    try:
        raw = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise AgentConfigError(f"cannot read {path}: {exc}") from exc
    config = AgentConfig()
    agent, collector, logs = raw.pop("agent", {}), raw.pop("collector", {}), raw.pop("logs", {})
    scrapes = raw.pop("scrape", [])
    cmdb = raw.pop("cmdb", {})
    if raw:
        raise AgentConfigError(f"unknown section(s) in {path}: {', '.join(raw)}")
    simple = {"id": ("agent_id", str), "data_dir": ("data_dir", str), "interval": ("interval", (int, float)),
              "metrics_port": ("metrics_port", int), "environment": ("environment", str),
              "batch_max_lines": ("batch_max_lines", int), "batch_max_bytes": ("batch_max_bytes", int),
              "flush_seconds": ("flush_seconds", (int, float)), "buffer_max_bytes": ("buffer_max_bytes", int),
              "role": ("role", str)}
    for key in list(agent):
        if key not in simple:
            raise AgentConfigError(f"unknown setting agent.{key}")
        name, kind = simple[key]
        value = _take(agent, key, kind, "agent")
        setattr(config, name, Path(value) if name == "data_dir" else value)
    if "urls" in collector:
        config.collector_urls = [str(u) for u in _take(collector, "urls", list, "collector")]
    if "token" in collector:
        config.token = _take(collector, "token", str, "collector")
    if "token_file" in collector:
        config.token = _read_secret(_take(collector, "token_file", str, "collector"), "the token file")
    if collector:
        raise AgentConfigError(f"unknown setting(s) collector.{', collector.'.join(collector)}")
    if "paths" in logs:
        config.log_paths = [str(p) for p in _take(logs, "paths", list, "logs")]
    if "multiline_start" in logs:
        config.multiline_start = _take(logs, "multiline_start", str, "logs")
    if logs:
        raise AgentConfigError(f"unknown setting(s) logs.{', logs.'.join(logs)}")
    for key, name in (("hosts", "cmdb_hosts"), ("user", "cmdb_user"), ("password", "cmdb_password"),
                      ("root", "cmdb_root")):
        if key in cmdb:
            setattr(config, name, _take(cmdb, key, str, "cmdb"))
    if "password_file" in cmdb:
        config.cmdb_password = _read_secret(_take(cmdb, "password_file", str, "cmdb"), "the CMDB password file")
    if cmdb:
        raise AgentConfigError(f"unknown setting(s) cmdb.{', cmdb.'.join(cmdb)}")
    for entry in scrapes:
        if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
            raise AgentConfigError("each [[scrape]] needs a url")
        config.scrape_urls.append(entry["url"])
    if not config.token:
        raise AgentConfigError("collector.token or collector.token_file is required")
    if config.interval <= 0:
        raise AgentConfigError("agent.interval must be positive")
    return config
