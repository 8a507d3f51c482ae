"""A service's deploy configuration, as the CMDB stores it, parsed and checked.

The stored form is a JSON object::

    {
      "deploy_root": "/srv/{service}",          # default for hosts that give none
      "source": "/build/shop/{version}",        # optional: directory packed into the release
      "hosts": [
        {"name": "web1", "address": "10.0.0.11", "port": 22, "user": "deploy",
         "roles": ["web"], "env": {"APP_PORT": "8000"}},
        {"name": "web2", "address": "10.0.0.12", "deploy_root": "/opt/shop"}
      ],
      "shared_dirs": ["logs", "data"],
      "pre_hooks": ["python3 -m compileall -q ."],
      "post_hooks": [],
      "restart": "./bin/restart",
      "health": {"url": "http://{address}:{APP_PORT}/health", "timeout": 2,
                 "retries": 10, "interval": 0.5, "expect_version": true},
      "keep_releases": 5,
      "command_timeout": 120
    }

Hooks and the restart command run through ``sh -c`` on the host with the host's ``env`` plus
``OAM_SERVICE``, ``OAM_VERSION``, ``OAM_HOST``, ``OAM_DEPLOY_ROOT``, ``OAM_RELEASE_DIR`` and
``OAM_SHARED_DIR``. The health URL is a template over ``{address}``, ``{name}``,
``{service}`` and the host's ``env`` keys.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$")
ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ConfigInvalid(ValueError):
    """The deploy configuration is missing something or has a value of the wrong kind."""


def check_name(kind: str, value: str) -> str:
    """A service name or a version: letters, digits, ``._+-``; never a path."""
    if not isinstance(value, str) or not NAME.match(value) or value in (".", ".."):
        raise ConfigInvalid(f"invalid {kind} {value!r}: use letters, digits and . _ + - (at most 100)")
    return value


@dataclass(frozen=True)
class HostSpec:
    """One host a service is deployed to."""

    name: str
    address: str
    deploy_root: str
    port: int = 22
    user: str = "root"
    roles: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)

    def template_fields(self, service: str) -> dict[str, str]:
        return {**self.env, "address": self.address, "name": self.name, "service": service}


@dataclass(frozen=True)
class HealthCheck:
    """How to tell that a host serves the new release."""

    url: str
    timeout: float = 5.0
    retries: int = 10
    interval: float = 1.0
    expect_version: bool = True


@dataclass(frozen=True)
class ServiceConfig:
    service: str
    hosts: tuple[HostSpec, ...]
    restart: str
    health: HealthCheck
    pre_hooks: tuple[str, ...] = ()
    post_hooks: tuple[str, ...] = ()
    shared_dirs: tuple[str, ...] = ("logs", "data")
    keep_releases: int = 5
    command_timeout: float = 120.0
    source: str | None = None

    def select(self, names: Sequence[str] = (), role: str | None = None) -> list[HostSpec]:
        """The hosts to deploy to: all, the named ones (in config order), or those with ``role``."""
        chosen = list(self.hosts)
        if names:
            known = {host.name for host in self.hosts} | {host.address for host in self.hosts}
            unknown = [name for name in names if name not in known]
            if unknown:
                raise ConfigInvalid(f"unknown host(s) {', '.join(unknown)} for {self.service} "
                                    f"(known: {', '.join(host.name for host in self.hosts)})")
            chosen = [host for host in chosen if host.name in names or host.address in names]
        if role is not None:
            chosen = [host for host in chosen if role in host.roles]
            if not chosen:
                roles = sorted({r for host in self.hosts for r in host.roles})
                raise ConfigInvalid(f"no host of {self.service} has role {role!r} "
                                    f"(roles: {', '.join(roles) or 'none'})")
        return chosen

    def health_url(self, host: HostSpec) -> str:
        return self.health.url.format_map(host.template_fields(self.service))


def _want(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str, default: Any = ...) -> Any:
    if key not in data:
        if default is ...:
            raise ConfigInvalid(f"{where}: {key!r} is required")
        return default
    value = data[key]
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise ConfigInvalid(f"{where}: {key!r} must be a number, not {value!r}")
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ConfigInvalid(f"{where}: {key!r} must be {names}, not {type(value).__name__}")
    return value


def _strings(data: Mapping[str, Any], key: str, where: str, default: Sequence[str] = ()) -> tuple[str, ...]:
    values = _want(data, key, list, where, list(default))
    if not all(isinstance(value, str) and value for value in values):
        raise ConfigInvalid(f"{where}: {key!r} must be a list of non-empty strings")
    return tuple(values)


def _host(data: Any, index: int, service: str, default_root: str | None) -> HostSpec:
    where = f"{service}: hosts[{index}]"
    if not isinstance(data, Mapping):
        raise ConfigInvalid(f"{where} must be an object")
    address = _want(data, "address", str, where)
    name = _want(data, "name", str, where, address)
    env = _want(data, "env", dict, where, {})
    for key, value in env.items():
        if not ENV_KEY.match(key) or not isinstance(value, (str, int)):
            raise ConfigInvalid(f"{where}: env {key!r} must be a shell variable name with a string value")
    fields = {**{k: str(v) for k, v in env.items()}, "address": address, "name": name, "service": service}
    root = _want(data, "deploy_root", str, where, default_root)
    if root is None:
        raise ConfigInvalid(f"{where}: 'deploy_root' is required (or set it for the service)")
    try:
        root = root.format_map(fields)
    except (KeyError, ValueError) as exc:
        raise ConfigInvalid(f"{where}: deploy_root {root!r} names an unknown field {exc}") from exc
    if not root.startswith("/") or root.rstrip("/") == "":
        raise ConfigInvalid(f"{where}: deploy_root must be an absolute path other than /, not {root!r}")
    port = _want(data, "port", int, where, 22)
    if not 1 <= port <= 65535:
        raise ConfigInvalid(f"{where}: port {port} is out of range")
    return HostSpec(name=name, address=address, deploy_root=root.rstrip("/"), port=port,
                    user=_want(data, "user", str, where, "root"), roles=_strings(data, "roles", where),
                    env={k: str(v) for k, v in env.items()})


def parse_config(service: str, data: Any) -> ServiceConfig:
    """Check a stored configuration and return it typed; :class:`ConfigInvalid` names the first problem."""
    check_name("service", service)
    if not isinstance(data, Mapping):
        raise ConfigInvalid(f"{service}: the deploy configuration must be an object")
    default_root = _want(data, "deploy_root", str, service, None)
    hosts_data = _want(data, "hosts", list, service)
    if not hosts_data:
        raise ConfigInvalid(f"{service}: 'hosts' is empty")
    hosts = tuple(_host(item, i, service, default_root) for i, item in enumerate(hosts_data))
    names = [host.name for host in hosts]
    if len(set(names)) != len(names):
        repeated = sorted({name for name in names if names.count(name) > 1})
        raise ConfigInvalid(f"{service}: host names repeat ({', '.join(repeated)})")
    health_data = _want(data, "health", dict, service)
    health = HealthCheck(
        url=_want(health_data, "url", str, f"{service}: health"),
        timeout=float(_want(health_data, "timeout", (int, float), f"{service}: health", 5.0)),
        retries=_want(health_data, "retries", int, f"{service}: health", 10),
        interval=float(_want(health_data, "interval", (int, float), f"{service}: health", 1.0)),
        expect_version=_want(health_data, "expect_version", bool, f"{service}: health", True),
    )
    if health.retries < 1 or health.timeout <= 0 or health.interval < 0:
        raise ConfigInvalid(f"{service}: health needs retries >= 1, timeout > 0 and interval >= 0")
    if not health.url.startswith(("http://", "https://")):
        raise ConfigInvalid(f"{service}: health url must start with http:// or https://, not {health.url!r}")
    for host in hosts:
        try:
            health.url.format_map(host.template_fields(service))
        except (KeyError, ValueError) as exc:
            raise ConfigInvalid(f"{service}: health url names {exc}, which host {host.name} does not define") from exc
    shared = _strings(data, "shared_dirs", service, ("logs", "data"))
    for name in shared:
        check_name("shared dir", name)
    keep = _want(data, "keep_releases", int, service, 5)
    if keep < 2:
        raise ConfigInvalid(f"{service}: keep_releases must be at least 2 (the current and one to roll back to)")
    timeout = float(_want(data, "command_timeout", (int, float), service, 120.0))
    if timeout <= 0:
        raise ConfigInvalid(f"{service}: command_timeout must be positive")
    return ServiceConfig(
        service=service, hosts=hosts, restart=_want(data, "restart", str, service), health=health,
        pre_hooks=_strings(data, "pre_hooks", service), post_hooks=_strings(data, "post_hooks", service),
        shared_dirs=shared, keep_releases=keep, command_timeout=timeout,
        source=_want(data, "source", str, service, None),
    )
