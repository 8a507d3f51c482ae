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
      "command_timeout": 120,
      "verify": ["pytest -q tests/api --base-url {url}"],
      "analysis": {"bake_seconds": 60, "on_inconclusive": "fail",
                   "checks": {"error_rate": {"max_difference": 0.02}, "latency": {"enabled": false}}}
    }

Hooks and the restart command run through ``sh -c`` on the host with the host's ``env`` plus
``OAM_SERVICE``, ``OAM_VERSION``, ``OAM_HOST``, ``OAM_DEPLOY_ROOT``, ``OAM_RELEASE_DIR`` and
``OAM_SHARED_DIR``. The health URL is a template over ``{address}``, ``{name}``,
``{service}`` and the host's ``env`` keys. ``verify`` commands run on the deployer's machine
once a host is healthy, with ``{url}`` (the health URL's scheme, host and port), ``{address}``,
``{name}``, ``{service}`` and the env keys filled in; ``analysis`` is
:class:`deployer.analysis.AnalysisSettings`.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, PrivateAttr, ValidationInfo, model_validator

from foundation.settings import (
    Expected,
    NonEmptyStr,
    PositiveFloat,
    SettingsError,
    SettingsModel,
    Url,
    invalid,
    validate,
)

from .analysis import AnalysisSettings

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$")
ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ConfigInvalid(SettingsError):
    """The deploy configuration, a service or version name, or a host selection does not fit."""


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
    verify: tuple[str, ...] = ()
    analysis: AnalysisSettings = field(default_factory=lambda: AnalysisSettings(bake_seconds=0))

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

    def verify_commands(self, host: HostSpec) -> list[str]:
        """The ``verify`` commands for ``host``, with ``{url}`` its base URL (from the health URL)."""
        return [command.format_map(_verify_fields(self, host)) for command in self.verify]


def _verify_fields(config: ServiceConfig, host: HostSpec) -> dict[str, str]:
    parts = urlsplit(config.health_url(host))
    return {**host.template_fields(config.service), "url": f"{parts.scheme}://{parts.netloc}"}


# -- the stored form, checked ---------------------------------------------------------------------
def _name(value: str) -> str:
    if not NAME.match(value) or value in (".", ".."):
        raise invalid("a name of letters, digits and . _ + - (at most 100)")
    return value


def _env_key(value: str) -> str:
    if not ENV_KEY.match(value):
        raise invalid("a shell variable name")
    return value


def _env_value(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise invalid("a string or an integer")
    return str(value)


def _some_hosts(hosts: list[Any]) -> list[Any]:
    if not hosts:
        raise invalid("a non-empty list of hosts")
    return hosts


Name = Annotated[str, AfterValidator(_name), Expected("a name of letters, digits and . _ + - (at most 100)")]
EnvKey = Annotated[str, AfterValidator(_env_key), Expected("a shell variable name")]
EnvValue = Annotated[Any, AfterValidator(_env_value), Expected("a string or an integer")]


class StoredHost(SettingsModel):
    address: NonEmptyStr
    name: NonEmptyStr | None = None  # default: the address
    deploy_root: str | None = None  # default: the service's
    port: Annotated[int, Field(ge=1, le=65535)] = 22
    user: NonEmptyStr = "root"
    roles: list[NonEmptyStr] = Field(default_factory=list)
    env: dict[EnvKey, EnvValue] = Field(default_factory=dict)


class StoredHealth(SettingsModel):
    url: Url
    timeout: PositiveFloat = 5.0
    retries: Annotated[int, Field(ge=1)] = 10
    interval: Annotated[float, Field(ge=0)] = 1.0
    expect_version: bool = True


class StoredDeployConfig(SettingsModel):
    """The JSON object at ``<environment>/<service>/deploy``."""

    deploy_root: str | None = None
    source: str | None = None
    hosts: Annotated[list[StoredHost], AfterValidator(_some_hosts)]
    shared_dirs: list[Name] = Field(default_factory=lambda: ["logs", "data"])
    pre_hooks: list[NonEmptyStr] = Field(default_factory=list)
    post_hooks: list[NonEmptyStr] = Field(default_factory=list)
    restart: str
    health: StoredHealth
    keep_releases: Annotated[int, Field(ge=2)] = 5  # the current release and one to roll back to
    command_timeout: PositiveFloat = 120.0
    verify: list[NonEmptyStr] = Field(default_factory=list)
    analysis: AnalysisSettings = Field(default_factory=AnalysisSettings)

    _hosts: tuple[HostSpec, ...] = PrivateAttr(())

    @model_validator(mode="after")
    def _hosts_fit(self, info: ValidationInfo) -> StoredDeployConfig:
        """Names that do not repeat; each host's deploy root and the health URL filled in for it."""
        service = (info.context or {}).get("service", "service")
        names = [host.name or host.address for host in self.hosts]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise invalid(f"host names that do not repeat ({', '.join(repeated)} does)", "hosts")
        self._hosts = tuple(_host(host, i, service, self.deploy_root) for i, host in enumerate(self.hosts))
        for host in self._hosts:
            try:
                self.health.url.format_map(host.template_fields(service))
            except (KeyError, ValueError) as exc:
                raise invalid(f"a URL naming fields every host defines ({exc} is not defined by host {host.name})",
                              "health", "url") from None
            for index, command in enumerate(self.verify):
                try:
                    command.format_map({**host.template_fields(service), "url": ""})
                except (KeyError, ValueError) as exc:
                    raise invalid(f"a command naming fields every host defines ({exc} is not defined by host "
                                  f"{host.name})", "verify", index) from None
        return self


def _host(data: StoredHost, index: int, service: str, default_root: str | None) -> HostSpec:
    name = data.name or data.address
    fields = {**data.env, "address": data.address, "name": name, "service": service}
    root = data.deploy_root if data.deploy_root is not None else default_root
    if root is None:
        raise invalid("a deploy_root (here or for the service)", "hosts", index, "deploy_root")
    try:
        root = root.format_map(fields)
    except (KeyError, ValueError) as exc:
        raise invalid(f"a path naming known fields only ({exc} is not one)", "hosts", index, "deploy_root",
                      got=root) from None
    if not root.startswith("/") or root.rstrip("/") == "":
        raise invalid("an absolute path other than /", "hosts", index, "deploy_root", got=root)
    return HostSpec(name=name, address=data.address, deploy_root=root.rstrip("/"), port=data.port, user=data.user,
                    roles=tuple(data.roles), env=dict(data.env))


def parse_config(service: str, data: Any, source: str | None = None) -> ServiceConfig:
    """Check a stored configuration and return it typed; :class:`ConfigInvalid` names the first
    problem in one line, ``source`` (default: the service's name) first."""
    check_name("service", service)
    try:
        checked = validate(StoredDeployConfig, data, source or service, context={"service": service})
    except SettingsError as exc:
        raise ConfigInvalid(str(exc)) from None
    health = checked.health
    return ServiceConfig(
        service=service, hosts=checked._hosts, restart=checked.restart,
        health=HealthCheck(url=health.url, timeout=health.timeout, retries=health.retries, interval=health.interval,
                           expect_version=health.expect_version),
        pre_hooks=tuple(checked.pre_hooks), post_hooks=tuple(checked.post_hooks),
        shared_dirs=tuple(checked.shared_dirs), keep_releases=checked.keep_releases,
        command_timeout=checked.command_timeout, source=checked.source, verify=tuple(checked.verify),
        analysis=checked.analysis)
