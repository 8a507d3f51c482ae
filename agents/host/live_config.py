"""Agent settings held in the CMDB, applied while the agent runs (the local file bootstraps it).

Two keys are followed, the second overriding the first field by field:

* ``<environment>/oam-agent/config`` — for every agent of the environment;
* ``<environment>/oam-agent/<agent id>`` — for one host.

Each is a JSON object with any of: ``log_paths`` (list of globs), ``multiline_start``
(regex or null), ``scrape_urls`` (list of URLs), ``interval`` (seconds), ``collector_urls``
(non-empty list of URLs). A value that does not fit is refused with a log line naming it (the
settings error's one line); the rest still applies.
"""
from __future__ import annotations

import logging
import threading
from typing import Any

from pydantic import Field

from foundation.settings import PositiveFloat, Regex, SettingsModel, Url, validate_keys

from .config import Urls

log = logging.getLogger("oam.agent.config")

SERVICE = "oam-agent"


class LiveAgentConfig(SettingsModel):
    """The settings the CMDB may change while the agent runs (each key optional)."""

    log_paths: list[str] = Field(default_factory=list)
    multiline_start: Regex | None = None
    scrape_urls: list[Url] = Field(default_factory=list)
    interval: PositiveFloat = 10.0
    collector_urls: Urls = Field(default_factory=lambda: ["http://127.0.0.1:4318"])


FIELDS = tuple(LiveAgentConfig.model_fields)


def validate(doc: Any, where: str) -> dict[str, Any]:
    """The usable fields of a settings document; bad ones are logged and left out."""
    good, problems = validate_keys(LiveAgentConfig, doc, where)
    for problem in problems:
        log.error("%s; ignored", problem)
    return good


class LiveAgentSettings:
    """Collects the two keys' values; ``take()`` hands the merged result to the agent's loop once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._layers: dict[str, dict[str, Any]] = {"environment": {}, "host": {}}
        self._changed = False

    def follow(self, cmdb: Any, environment: str, agent_id: str) -> list[Any]:
        return [cmdb.watch(f"{environment}/{SERVICE}/config", lambda change: self._set("environment", change)),
                cmdb.watch(f"{environment}/{SERVICE}/{agent_id}", lambda change: self._set("host", change))]

    def _set(self, layer: str, change: Any) -> None:
        values = validate(change.value, change.key) if change.exists and change.value is not None else {}
        with self._lock:
            self._layers[layer] = values
            self._changed = True

    def take(self) -> dict[str, Any] | None:
        """The merged settings if they changed since the last call, else None."""
        with self._lock:
            if not self._changed:
                return None
            self._changed = False
            return {**self._layers["environment"], **self._layers["host"]}
