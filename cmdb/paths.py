"""Where things live in the ZooKeeper tree, below one root (default ``/oam/cmdb``)::

    <root>/access                                      the ACL policy (admins and writers read it)
    <root>/config/<environment>/<service>/<name...>   the value, JSON (empty data: no value)
    <root>/history/<environment>/<service>/<name...>/<version:010d>   one change record each
    <root>/schemas/<quoted key pattern>                 a JSON schema for matching keys
    <root>/hosts/known/<host>                           host facts, kept while the host is down
    <root>/hosts/live/<host>                            ephemeral: the host's agent is connected
    <root>/locks/<name>                                 kazoo Lock contenders
    <root>/secrets/<name...>                            values without history (admins and grantees only)

A key is ``environment/service/name`` where ``name`` may have further ``/`` segments.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote

from .errors import InvalidKey

DEFAULT_ROOT = "/oam/cmdb"
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@+-]*$")
_RESERVED = {"zookeeper"}


def validate_segment(segment: str, what: str) -> str:
    if not _SEGMENT.match(segment) or segment in {".", ".."} or segment in _RESERVED:
        raise InvalidKey(f"invalid {what} {segment!r}: use letters, digits and . _ : @ + - "
                         "(not starting with a symbol)")
    return segment


def validate_key(key: str) -> str:
    """Return the normalised key or raise :class:`InvalidKey`."""
    parts = key.strip("/").split("/")
    if len(parts) < 3:
        raise InvalidKey(f"invalid key {key!r}: expected environment/service/name")
    for part in parts:
        validate_segment(part, "key segment")
    return "/".join(parts)


def validate_prefix(prefix: str) -> str:
    """A prefix of keys (``""``, ``prod``, ``prod/web``...), normalised."""
    parts = [p for p in prefix.strip("/").split("/") if p]
    for part in parts:
        validate_segment(part, "key segment")
    return "/".join(parts)


def version_node(version: int) -> str:
    return f"{version:010d}"


@dataclass(frozen=True)
class Layout:
    """Paths of the CMDB tree below ``root``."""

    root: str = DEFAULT_ROOT

    def __post_init__(self) -> None:
        root = "/" + self.root.strip("/")
        if root == "/":
            raise InvalidKey("the CMDB root cannot be '/'")
        for part in root.strip("/").split("/"):
            validate_segment(part, "root segment")
        object.__setattr__(self, "root", root)

    @property
    def access(self) -> str:
        return f"{self.root}/access"

    @property
    def config(self) -> str:
        return f"{self.root}/config"

    @property
    def history_root(self) -> str:
        return f"{self.root}/history"

    @property
    def schemas(self) -> str:
        return f"{self.root}/schemas"

    @property
    def known_hosts(self) -> str:
        return f"{self.root}/hosts/known"

    @property
    def live_hosts(self) -> str:
        return f"{self.root}/hosts/live"

    @property
    def locks(self) -> str:
        return f"{self.root}/locks"

    @property
    def secrets(self) -> str:
        return f"{self.root}/secrets"

    def secret(self, name: str) -> str:
        parts = [p for p in name.strip("/").split("/") if p]
        if not parts:
            raise InvalidKey("empty secret name")
        return "/".join([self.secrets, *(validate_segment(p, "secret name segment") for p in parts)])

    def relative(self, path: str) -> str:
        """``path`` below the root (``""`` for the root itself)."""
        return path[len(self.root) + 1:] if path.startswith(self.root + "/") else ""

    def value(self, key: str) -> str:
        return f"{self.config}/{validate_key(key)}"

    def history(self, key: str) -> str:
        return f"{self.history_root}/{validate_key(key)}"

    def record(self, key: str, version: int) -> str:
        return f"{self.history(key)}/{version_node(version)}"

    def key_of(self, value_path: str) -> str:
        return value_path[len(self.config) + 1:]

    def under(self, prefix: str) -> str:
        prefix = validate_prefix(prefix)
        return f"{self.config}/{prefix}" if prefix else self.config

    def schema(self, pattern: str) -> str:
        return f"{self.schemas}/{quote_pattern(pattern)}"

    def known_host(self, name: str) -> str:
        return f"{self.known_hosts}/{validate_segment(name, 'host name')}"

    def live_host(self, name: str) -> str:
        return f"{self.live_hosts}/{validate_segment(name, 'host name')}"

    def lock(self, name: str) -> str:
        return f"{self.locks}/{validate_segment(name, 'lock name')}"


def quote_pattern(pattern: str) -> str:
    """A key pattern (``*/web/db``) as one znode name."""
    if not pattern.strip("/"):
        raise InvalidKey("empty schema pattern")
    return quote(pattern.strip("/"), safe="")


def unquote_pattern(node: str) -> str:
    return unquote(node)
