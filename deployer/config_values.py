"""The CMDB values a service's configuration templates are rendered with, per host.

Where they live (CMDB keys, versioned like any other)::

    <environment>/<service>/config/<name>                  the environment's value of <name>
    <environment>/<service>/hosts/<host>/config/<name>     one host's own value; it wins

Usage::

    values = load_values(cmdb.store, "production", "shop", ["web1", "web2"])
    values["web2"]["db_url"]    # ConfigValue(key="production/shop/hosts/web2/config/db_url", version=2, value=...)
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cmdb import CmdbError, ConfigStore, Entry

from .registry import RegistryError

VALUES = "config"
HOSTS = "hosts"


@dataclass(frozen=True)
class ConfigValue:
    """A value and the CMDB key and version it was read from."""

    key: str
    version: int
    value: Any


def values_prefix(environment: str, service: str, host: str | None = None) -> str:
    """The CMDB prefix of the environment's values, or of one host's overrides."""
    base = f"{environment}/{service}"
    return f"{base}/{HOSTS}/{host}/{VALUES}" if host is not None else f"{base}/{VALUES}"


def by_name(prefix: str, entries: Iterable[Entry]) -> dict[str, ConfigValue]:
    """The entries right below ``prefix`` by name (deeper keys are not template variables)."""
    found = {}
    for entry in entries:
        name = entry.key[len(prefix) + 1:]
        if entry.key.startswith(prefix + "/") and "/" not in name:
            found[name] = ConfigValue(entry.key, entry.version, entry.value)
    return found


def host_values(shared: Mapping[str, ConfigValue], own: Mapping[str, ConfigValue]) -> dict[str, ConfigValue]:
    """What one host renders with: the environment's values, each host override in its place."""
    return {**shared, **own}


def load_values(store: ConfigStore, environment: str, service: str,
                hosts: Sequence[str]) -> dict[str, dict[str, ConfigValue]]:
    """For each host, every value it gets: the environment's, with the host's own overrides on top."""
    try:
        prefix = values_prefix(environment, service)
        shared = by_name(prefix, store.entries(prefix))
        values = {}
        for host in hosts:
            own = values_prefix(environment, service, host)
            values[host] = host_values(shared, by_name(own, store.entries(own)))
        return values
    except CmdbError as exc:
        raise RegistryError(f"cannot read the configuration values of {service}: {exc}") from exc
