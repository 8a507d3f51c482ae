"""Live settings of the order service: shard map, cache TTL, feature flags.

Values can change while the service runs (the CMDB pushes them); readers always call
:meth:`LiveSettings.get` instead of keeping a copy, so a change takes effect at once.
"""
from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Mapping
from typing import Annotated, Any

from pydantic import Field

from foundation.settings import NonEmptyStr, PositiveInt, SettingsModel

Seconds = Annotated[float, Field(ge=0)]


class ShardSettings(SettingsModel):
    count: PositiveInt = 4  # SQLite files shard-0.db .. shard-3.db
    directory: NonEmptyStr = "shards"


class CacheSettings(SettingsModel):
    ttl_seconds: Seconds = 30


class FeatureSettings(SettingsModel):
    recompute_on_write: bool = True


class OrderServiceSettings(SettingsModel):
    """Every live setting; in the CMDB each top-level key is one key under ``<environment>/order-service/``."""

    shards: ShardSettings = Field(default_factory=ShardSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    features: FeatureSettings = Field(default_factory=FeatureSettings)
    slow_endpoint_seconds: Seconds = 0.5


DEFAULTS: dict[str, Any] = OrderServiceSettings().model_dump()


class LiveSettings:
    """Thread-safe settings that a watcher updates in place."""

    def __init__(self, initial: Mapping[str, Any] | None = None) -> None:
        self._values = copy.deepcopy(DEFAULTS)
        self._lock = threading.Lock()
        self._listeners: list[Callable[[str, Any], None]] = []
        for key, value in (initial or {}).items():
            self.update(key, value)

    def get(self, key: str, default: Any = None) -> Any:
        """A value by dotted key (``cache.ttl_seconds``)."""
        with self._lock:
            node: Any = self._values
            for part in key.split("."):
                if not isinstance(node, dict) or part not in node:
                    return default
                node = node[part]
            return copy.deepcopy(node)

    def update(self, key: str, value: Any) -> None:
        """Set a top-level section or a dotted key; listeners hear about it."""
        with self._lock:
            *parents, leaf = key.split(".")
            node = self._values
            for part in parents:
                node = node.setdefault(part, {})
            if isinstance(node.get(leaf), dict) and isinstance(value, Mapping):
                node[leaf] = {**node[leaf], **copy.deepcopy(dict(value))}
            else:
                node[leaf] = copy.deepcopy(value)
            listeners = list(self._listeners)
        for listener in listeners:
            listener(key, value)

    def on_change(self, listener: Callable[[str, Any], None]) -> None:
        self._listeners.append(listener)
